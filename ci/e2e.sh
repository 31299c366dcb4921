#!/usr/bin/env bash
# README's main command: the default reboot scenario (kubernetes#131186) on a
# kind cluster, bringing up the Docker engine, images and cluster as needed.
# Extra arguments go to `pvreboot run` (e.g. a scenario file first).
source "$(dirname "$0")/lib.sh"
STATE=${PVREBOOT_STATE:-/var/lib/pvreboot}
"$REPO_ROOT/ci/images.sh"
source "$STATE/docker.env"
source "$STATE/images.env"
cd "$REPO_ROOT"
SCENARIO=${1:-scenarios/sendfile-after-reboot.yaml}
[ $# -gt 0 ] && shift
exec bin/pvreboot run "$SCENARIO" --image "$PVREBOOT_NODE_IMAGE" --probe-image "$PVREBOOT_PROBE_IMAGE" \
  --output-dir "${PVREBOOT_OUTPUT:-_artifacts/e2e}" "$@"
