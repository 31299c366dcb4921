#!/usr/bin/env bash
# Unit and integration tests. As root they include the real loop-device and
# cgroup throttle test; elsewhere those skip and say why.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
# e2fsprogs (mkfs.ext4), xfsprogs (mkfs.xfs) and util-linux (losetup) for the
# real loop-device tests: the regression, and the data path on xfs and ext4
# (as root the data path test fails, not skips, when a tool is missing).
# chromium (with the Liberation fonts the plots name) for the HTML report's
# browser test, which as root fails, not skips, without it.
if [ "$(id -u)" = 0 ]; then
  need=()
  command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
  command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
  command -v chromium >/dev/null || need+=(chromium)
  [ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || need+=(fonts-liberation)
  # strace and BusyBox for the eBPF tracer's tests (framework/trace: per
  # call against strace -T on a BusyBox cp), chrt (util-linux) beside them.
  command -v strace >/dev/null || need+=(strace)
  command -v busybox >/dev/null || need+=(busybox-static)
  command -v chrt >/dev/null || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} for the loop-device and browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
go test -count=1 "$@" ./...
