#!/bin/sh
# The readahead fault: read or set the readahead of the block device behind a
# pvreboot Local PV, and undo the fault.
#   sh -c "$(cat readahead.sh)" readahead get PATH BACKING
#   sh -c "$(cat readahead.sh)" readahead set PATH BACKING KB
#   sh -c "$(cat readahead.sh)" readahead undo PATH BACKING KB UNIT
# PATH is the volume's local.path: the mount point of a filesystem backing, or
# the symlink to the loop device of a block backing. get prints
# "MAJ:MIN KB"; set prints "MAJ:MIN OLD NEW" (the boot unit runs it). undo
# disables and removes UNIT (the fault's boot unit) and, when the volume's
# device is still there, gives it KB again (the value recorded before the
# fault); a volume already gone is left alone. Readahead is read and set on
# the device node (blockdev: the BLKRAGET/BLKRASET ioctls, in 512-byte
# sectors), not through sysfs, which a kind node mounts read-only.
set -eu
if [ "$#" -lt 3 ]; then
  echo "readahead: want get|set|undo PATH BACKING [KB [UNIT]]" >&2
  exit 2
fi
op=$1 path=$2 backing=$3
case "$path" in
  */../* | */.. | */./* ) echo "readahead: $path is not a plain path" >&2; exit 2 ;;
  /mnt/pvreboot/pvreboot-*/* ) echo "readahead: $path is not a backing directly under /mnt/pvreboot" >&2; exit 2 ;;
  /mnt/pvreboot/pvreboot-?* ) ;;
  *) echo "readahead: $path is not a pvreboot backing (/mnt/pvreboot/pvreboot-<run>-<name>)" >&2; exit 2 ;;
esac
case "$backing" in
  filesystem | block) ;;
  *) echo "readahead: backing $backing: want filesystem or block" >&2; exit 2 ;;
esac
want=
case "$op" in
  get) [ "$#" -eq 3 ] || { echo "readahead: get wants PATH BACKING" >&2; exit 2; } ;;
  set | undo)
    want=${4-}
    case "$want" in
      '' | *[!0-9]* | ??????????*) echo "readahead: '$want': want a readahead in KiB (at most 9 digits)" >&2; exit 2 ;;
    esac ;;
  *) echo "readahead: $op: want get, set or undo" >&2; exit 2 ;;
esac
unit=
if [ "$op" = undo ]; then
  unit=${5-}
  case "$unit" in
    */* | .* | '' ) echo "readahead: unit '$unit' is not a unit name" >&2; exit 2 ;;
    pvreboot-*-readahead.service) ;;
    *) echo "readahead: unit $unit is not a readahead fault's" >&2; exit 2 ;;
  esac
fi

# device sets $dev to the volume's block device node and $majmin to its
# number; it fails when the volume has no device now.
device() {
  if [ "$backing" = filesystem ]; then
    mountpoint -q -- "$path" || return 1
    dev=$(findmnt -n -o SOURCE --mountpoint "$path" | tail -n 1)
  else
    [ -b "$path" ] || return 1
    dev=$(readlink -f -- "$path")
  fi
  case "$dev" in
    /dev/*) ;;
    *) echo "readahead: $path is on '$dev', not a device under /dev" >&2; return 1 ;;
  esac
  [ -b "$dev" ] || return 1
  hex=$(stat -L -c '%t:%T' -- "$dev")
  majmin=$(printf '%d:%d' "0x${hex%%:*}" "0x${hex#*:}")
}

# kb prints the device's readahead in KiB.
kb() { echo $(($(blockdev --getra "$dev") / 2)); }

case "$op" in
  get)
    device || { echo "readahead: $path has no block device now" >&2; exit 3; }
    echo "$majmin $(kb)"
    ;;
  set)
    device || { echo "readahead: $path has no block device now" >&2; exit 3; }
    old=$(kb)
    blockdev --setra $((want * 2)) "$dev"
    echo "$majmin $old $(kb)"
    ;;
  undo)
    systemctl disable -- "$unit" >/dev/null 2>&1 || true
    rm -f -- "/etc/systemd/system/$unit"
    systemctl daemon-reload
    if device; then
      blockdev --setra $((want * 2)) "$dev"
      echo "$majmin $(kb)"
    fi
    ;;
esac
