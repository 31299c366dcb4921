#!/bin/sh
# The readahead fault: read or set the readahead of the block device behind a
# pvreboot Local PV, and undo the fault.
#   sh -c "$(cat readahead.sh)" readahead get PATH BACKING
#   sh -c "$(cat readahead.sh)" readahead set PATH BACKING KB
#   sh -c "$(cat readahead.sh)" readahead undo PATH BACKING KB
#   sh -c "$(cat readahead.sh)" readahead remove-unit PATH
# PATH is the volume's local.path: the mount point of a filesystem backing, or
# the symlink to the loop device of a block backing. get prints
# "MAJ:MIN KB"; set prints "MAJ:MIN OLD NEW" (the boot unit runs it). undo
# removes the fault's boot unit (named from PATH: NAME-readahead.service) and
# its links, and gives the volume's device KB again (the value recorded before
# the fault). A backing that is gone (no image, no PATH) has nothing to
# restore: undo says so and succeeds. A backing still there without its
# device fails (exit 3): the device keeps the fault's value, so the backing
# must stay until a later undo can restore it. remove-unit only removes the
# boot unit and its links (a unit no ledger names: the value to restore is
# not known). Readahead is read and set on
# the device node (blockdev: the BLKRAGET/BLKRASET ioctls, in 512-byte
# sectors), not through sysfs, which a kind node mounts read-only.
set -eu
if [ "$#" -lt 2 ]; then
  echo "readahead: want get|set|undo PATH BACKING [KB], or remove-unit PATH" >&2
  exit 2
fi
op=$1 path=$2 backing=${3-}
case "$path" in
  */../* | */.. | */./* ) echo "readahead: $path is not a plain path" >&2; exit 2 ;;
  /mnt/pvreboot/pvreboot-*/* ) echo "readahead: $path is not a backing directly under /mnt/pvreboot" >&2; exit 2 ;;
  /mnt/pvreboot/pvreboot-?* ) ;;
  *) echo "readahead: $path is not a pvreboot backing (/mnt/pvreboot/pvreboot-<run>-<name>)" >&2; exit 2 ;;
esac
case "$op:$backing" in
  remove-unit:) ;;
  remove-unit:*) echo "readahead: remove-unit wants PATH only" >&2; exit 2 ;;
  *:filesystem | *:block) ;;
  *) echo "readahead: backing '$backing': want filesystem or block" >&2; exit 2 ;;
esac
want=
case "$op" in
  get) [ "$#" -eq 3 ] || { echo "readahead: get wants PATH BACKING" >&2; exit 2; } ;;
  set | undo)
    [ "$#" -eq 4 ] || { echo "readahead: $op wants PATH BACKING KB" >&2; exit 2; }
    want=$4
    case "$want" in
      '' | *[!0-9]* | ??????????*) echo "readahead: '$want': want a readahead in KiB (at most 9 digits)" >&2; exit 2 ;;
    esac ;;
  remove-unit) [ "$#" -eq 2 ] || { echo "readahead: remove-unit wants PATH only" >&2; exit 2; } ;;
  *) echo "readahead: $op: want get, set, undo or remove-unit" >&2; exit 2 ;;
esac
# The fault's boot unit is named from the backing (checked above: one
# pvreboot-* name, no slash).
unit=${path##*/}-readahead.service

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

# remove_unit removes the links `systemctl enable` made
# (WantedBy=multi-user.target kubelet.service) and the unit, by name, so
# that nothing of it stays whatever systemctl thinks of a unit half gone.
remove_unit() {
  rm -f -- "/etc/systemd/system/multi-user.target.wants/$unit" "/etc/systemd/system/kubelet.service.wants/$unit" \
    "/etc/systemd/system/$unit"
  systemctl daemon-reload
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
  remove-unit)
    remove_unit
    ;;
  undo)
    remove_unit
    if device; then
      blockdev --setra $((want * 2)) "$dev"
      echo "$majmin $(kb)"
    elif [ -e "$path.img" ] || [ -e "$path" ] || [ -L "$path" ]; then
      echo "readahead: $path is still there but has no block device now: its device's readahead cannot be restored to $want KiB yet (keep the backing and undo again once it has its device)" >&2
      exit 3
    else
      echo "readahead: $path is gone (no image, no path): nothing to restore"
    fi
    ;;
esac
