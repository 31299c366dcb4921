#!/usr/bin/env bash
# From no Docker engine and no images to a Ready 1 control-plane + 2 worker
# kind cluster (reused when a healthy one of that name exists).
source "$(dirname "$0")/lib.sh"
STATE=${PVREBOOT_STATE:-/var/lib/pvreboot}
NAME=${PVREBOOT_CLUSTER:-pvreboot}
timed "$REPO_ROOT/ci/images.sh"
source "$STATE/docker.env"
source "$STATE/images.env"
cd "$REPO_ROOT"
mkdir -p "$STATE/kube"
bin/pvreboot cluster create --name "$NAME" --config kind-config/two-workers.yaml --image "$PVREBOOT_NODE_IMAGE" \
  --kubeconfig "$STATE/kube/$NAME.kubeconfig"
log "kubeconfig: $STATE/kube/$NAME.kubeconfig (DOCKER_HOST from $STATE/docker.env)"
