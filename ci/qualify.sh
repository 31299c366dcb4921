#!/usr/bin/env bash
# A storage vendor's qualification on kind: the shipped plan
# (scenarios/qualify-filesystems.yaml, or the one given) on a cluster of
# three workers (kind-config/three-workers.yaml), cases in parallel on the
# workers. Brings up the Docker engine and images as needed; the output
# directory resumes an interrupted qualification. Extra arguments go to
# `pvreboot qualify` (e.g. --parallel 1 for the same cases one at a time).
source "$(dirname "$0")/lib.sh"
STATE=${PVREBOOT_STATE:-/var/lib/pvreboot}
"$REPO_ROOT/ci/images.sh"
source "$STATE/docker.env"
source "$STATE/images.env"
cd "$REPO_ROOT"
PLAN=${1:-scenarios/qualify-filesystems.yaml}
[ $# -gt 0 ] && shift
exec bin/pvreboot qualify "$PLAN" --image "$PVREBOOT_NODE_IMAGE" --probe-image "$PVREBOOT_PROBE_IMAGE" \
  --output-dir "${PVREBOOT_OUTPUT:-_artifacts/qualify}" "$@"
