#!/bin/sh
# Prints the sha256 of the data canary, read from the device for a block
# volume, or "missing" when there is no such file or device.
#   busybox sh -c "$(cat canary-check.sh)" canary-check BUSYBOX file PATH BYTES 0
#   busybox sh -c "$(cat canary-check.sh)" canary-check BUSYBOX block DEVICE BYTES BLOCK
set -eu
# A failed dd must not pass for the digest of nothing.
# busybox ash (the probe image's shell) has pipefail.
# shellcheck disable=SC3040
set -o pipefail
bb=$1 kind=$2 target=$3 bytes=$4 block=$5
case "$kind" in
  file)
    if [ -f "$target" ]; then "$bb" sha256sum "$target"; else echo missing; fi
    ;;
  block)
    if [ -b "$target" ]; then
      "$bb" dd if="$target" bs="$bytes" count=1 skip="$block" iflag=direct 2>/dev/null | "$bb" sha256sum
    else
      echo missing
    fi
    ;;
  *) echo "canary-check: kind $kind is not file or block" >&2; exit 2 ;;
esac
