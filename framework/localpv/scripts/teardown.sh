#!/bin/sh
# Removes the node side of one pvreboot Local PV. Run as
#   sh -c "$(cat teardown.sh)" teardown ROOT BACKING PATH UNIT [LOOP MAJ:MIN INODE]...
# Every value is a positional parameter, never part of this text. BACKING is
# directory, filesystem or block; PATH must be ROOT/pvreboot-<run>-<name>. The
# image is PATH.img; the unit is UNIT (filesystem: the mount unit; block: the
# loop service); then, for block volumes, the kubelet's loop devices over the
# volume, each with the backing device and inode it was attached to, so that a
# loop number reused for another file is never detached.
set -eu
if [ "$#" -lt 4 ]; then
  echo "teardown: want ROOT BACKING PATH UNIT [LOOP MAJ:MIN INODE]..." >&2
  exit 2
fi
root=$1 backing=$2 path=$3 unit=$4
shift 4
case "$root" in
  /*) ;;
  *) echo "teardown: root $root is not absolute" >&2; exit 2 ;;
esac
name=${path#"$root"/}
case "$name" in
  "$path" | */* | *..* | "" ) echo "teardown: $path is not a backing directly under $root" >&2; exit 2 ;;
  pvreboot-*) ;;
  *) echo "teardown: $path is not pvreboot's (pvreboot-<run>-<name>)" >&2; exit 2 ;;
esac
case "$unit" in
  */* | .* ) echo "teardown: unit $unit is not a unit name" >&2; exit 2 ;;
esac
case "$backing:$unit" in
  directory: | filesystem:mnt-*.mount | block:pvreboot-*-loop.service) ;;
  *) echo "teardown: unit $unit is not the unit of a $backing backing" >&2; exit 2 ;;
esac
# Every kubelet loop record is checked before anything is done.
n=0
for a in "$@"; do
  case $((n % 3)) in
    0) case "$a" in /dev/loop[0-9]*) ;; *) echo "teardown: $a is not a loop device" >&2; exit 2 ;; esac ;;
    1) case "$a" in *[!0-9:]* | '') echo "teardown: $a is not major:minor" >&2; exit 2 ;; esac ;;
    2) case "$a" in *[!0-9]* | '') echo "teardown: $a is not an inode number" >&2; exit 2 ;; esac ;;
  esac
  n=$((n + 1))
done
if [ $((n % 3)) -ne 0 ]; then
  echo "teardown: kubelet loops come as LOOP MAJ:MIN INODE" >&2
  exit 2
fi
image=$path.img
case "$backing" in
  directory | filesystem | block) ;;
  *) echo "teardown: backing $backing is not directory, filesystem or block" >&2; exit 2 ;;
esac
if [ "$backing" != directory ]; then
  # After an interrupted reboot the node may still be booting.
  systemctl is-system-running --wait >/dev/null 2>&1 || true
  if [ "$backing" = block ]; then
    # The kubelet's loops first: they hold the volume's own loop device.
    while [ "$#" -ge 3 ]; do
      loop=$1 majmin=$2 inode=$3
      shift 3
      # --raw pads BACK-MAJ:MIN with escaped blanks ("\x20\x200:57"): drop them.
      got=$(losetup --list --noheadings --raw --output BACK-MAJ:MIN,BACK-INO "$loop" 2>/dev/null | sed 's/\\x20//g') || got=
      if [ "$got" = "$majmin $inode" ]; then
        losetup -d "$loop" || true
      fi
    done
  fi
  systemctl disable --now "$unit" 2>/dev/null || true
  if [ "$backing" = filesystem ]; then
    if mountpoint -q "$path"; then umount "$path"; fi
  else
    rm -f "$path"
  fi
  for l in $(losetup -j "$image" -O NAME -n 2>/dev/null); do losetup -d "$l"; done
  rm -f "/etc/systemd/system/$unit"
  systemctl daemon-reload
  rm -f "$image"
fi
# The directory, unless something is still mounted on it.
if [ -d "$path" ] && ! mountpoint -q "$path"; then
  rm -rf -- "$path"
fi
