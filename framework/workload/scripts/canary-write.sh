#!/bin/sh
# Writes the data canary before the reboot and prints its sha256.
#   busybox sh -c "$(cat canary-write.sh)" canary-write BUSYBOX file PATH BYTES 0
#   busybox sh -c "$(cat canary-write.sh)" canary-write BUSYBOX block DEVICE BYTES BLOCK
# file: BYTES random bytes to PATH, synced. block: one block of BYTES at block
# number BLOCK of DEVICE, written through to the device and read back from it.
set -eu
# A failed dd must not pass for the digest of nothing.
# busybox ash (the probe image's shell) has pipefail.
# shellcheck disable=SC3040
set -o pipefail
bb=$1 kind=$2 target=$3 bytes=$4 block=$5
case "$kind" in
  file)
    "$bb" head -c "$bytes" /dev/urandom > "$target"
    "$bb" sync
    "$bb" sha256sum "$target"
    ;;
  block)
    "$bb" dd if=/dev/urandom of="$target" bs="$bytes" count=1 seek="$block" oflag=direct conv=notrunc,fsync 2>/dev/null
    "$bb" dd if="$target" bs="$bytes" count=1 skip="$block" iflag=direct 2>/dev/null | "$bb" sha256sum
    ;;
  *) echo "canary-write: kind $kind is not file or block" >&2; exit 2 ;;
esac
