#!/bin/sh
# A kind node's /dev is a copy of the host's made when its container started:
# a loop device the host kernel made since has no node in it, and losetup or
# mount -o loop then fails with "No such file or directory". Make the nodes
# of every device up to COUNT past the next free one.
#   sh -c "$(cat loop-nodes.sh)" loop-nodes COUNT
set -eu
count=$1
next=$(losetup -f)
last=$((${next#/dev/loop} + count))
i=0
while [ "$i" -le "$last" ]; do
  [ -e "/dev/loop$i" ] || mknod -m 0660 "/dev/loop$i" b 7 "$i"
  i=$((i + 1))
done
