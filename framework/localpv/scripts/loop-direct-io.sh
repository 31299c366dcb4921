#!/bin/sh
# Turns direct I/O on for the loop devices over a volume's image, so that its
# reads reach the disk instead of the page cache the host keeps of the image
# file (a kind node shares it), and prints each device with the state the
# kernel kept: "loop0 1" (direct I/O) or "loop0 0" (refused: the image's
# filesystem or the kernel does not allow it). Nothing attached: no output.
#   sh -c "$(cat loop-direct-io.sh)" loop-direct-io IMAGE
# IMAGE must be a backing image pvreboot makes: /mnt/pvreboot/pvreboot-*.img.
set -eu
if [ "$#" -ne 1 ]; then
  echo "loop-direct-io: want IMAGE" >&2
  exit 2
fi
image=$1
case "$image" in
  */../* | */./* | /mnt/pvreboot/pvreboot-*/*) echo "loop-direct-io: $image is not a backing image" >&2; exit 2 ;;
  /mnt/pvreboot/pvreboot-?*.img) ;;
  *) echo "loop-direct-io: $image is not a backing image" >&2; exit 2 ;;
esac
# Assigned first, so that a failing losetup fails the script (set -e).
loops=$(losetup -j "$image" -O NAME -n)
for l in $loops; do
  losetup --direct-io=on "$l" 2>/dev/null || true
  name=${l#/dev/}
  dio=$(cat "/sys/block/$name/loop/dio" 2>/dev/null || echo "?")
  echo "$name $dio"
done
