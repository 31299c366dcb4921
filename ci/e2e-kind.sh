#!/usr/bin/env bash
# The kind suite: a real multi-node kind cluster made through the provider,
# the probe image loaded, copyprobe run on each worker, cross-node traffic.
source "$(dirname "$0")/lib.sh"
STATE=${PVREBOOT_STATE:-/var/lib/pvreboot}
"$REPO_ROOT/ci/images.sh"
source "$STATE/docker.env"
source "$STATE/images.env"
export PVREBOOT_ARTIFACTS=${PVREBOOT_ARTIFACTS:-$REPO_ROOT/_artifacts}
mkdir -p "$PVREBOOT_ARTIFACTS"
cd "$REPO_ROOT"
go run github.com/onsi/ginkgo/v2/ginkgo -tags e2e --label-filter "${PVREBOOT_LABELS:-kind}" \
  --timeout 60m --poll-progress-after 2m --junit-report junit-e2e.xml --json-report results-e2e.json \
  --output-dir "$PVREBOOT_ARTIFACTS" -v ./e2e
# The e2e-framework adapters (framework/pvenv), through their example test (same cluster).
if [[ "${PVREBOOT_LABELS:-kind}" == kind ]]; then
  go test -tags e2e -count=1 -v -timeout 20m ./framework/pvenv
fi
