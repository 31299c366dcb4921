#!/usr/bin/env bash
# Make the images the e2e suites need, building what is missing: the kind
# node image (from Debian packages and the Go module proxy, no registry) and
# the copyprobe workload image. Writes their references to
# $PVREBOOT_STATE/images.env. Every step reuses what is already built.
source "$(dirname "$0")/lib.sh"
STATE=${PVREBOOT_STATE:-/var/lib/pvreboot}
"$REPO_ROOT/ci/docker-up.sh"
source "$STATE/docker.env"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v chroot >/dev/null || need+=(coreutils)
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need+=(busybox-static); fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cd "$REPO_ROOT"
mkdir -p bin
go build -o bin/pvreboot ./cmd/pvreboot
NODE_IMAGE=${PVREBOOT_NODE_IMAGE:-}
if [ -z "$NODE_IMAGE" ]; then
  start=$SECONDS
  NODE_IMAGE=$(bin/pvreboot image build --source-dir "$REPO_ROOT")
  log "node image $NODE_IMAGE ($((SECONDS - start))s)"
fi
PROBE_IMAGE=$(bin/pvreboot image probe --source-dir "$REPO_ROOT")
log "probe image $PROBE_IMAGE"
printf 'export PVREBOOT_NODE_IMAGE=%s\nexport PVREBOOT_PROBE_IMAGE=%s\n' "$NODE_IMAGE" "$PROBE_IMAGE" > "$STATE/images.env"
