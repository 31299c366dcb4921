# shellcheck shell=bash
# Sourced by the ci/ scripts: strict mode, Go on PATH, and a timing helper.
set -o errexit -o nounset -o pipefail
export PATH="/usr/local/go/bin:${PATH}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
log() { printf '%s [ci] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
timed() {
  local start=$SECONDS
  "$@"
  log "$1 took $((SECONDS - start))s"
}
