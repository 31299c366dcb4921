#!/usr/bin/env bash
# Unit and integration tests. As root they include the real loop-device and
# cgroup throttle test; elsewhere those skip and say why.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
# e2fsprogs (mkfs.ext4) and util-linux (losetup) for the real regression test.
if [ "$(id -u)" = 0 ] && ! command -v mkfs.ext4 >/dev/null; then
  log "installing e2fsprogs for the loop-device test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq e2fsprogs >/dev/null
fi
go test -count=1 "$@" ./...
