#!/bin/sh
# ExecStart of a block volume's loop service: attach IMAGE to a fresh loop
# device and point PATH at it (the device's number can change between boots,
# PATH does not, like /dev/disk/by-id). A device still attached to IMAGE at
# boot (a kind node killed, whose host kernel kept it) is detached first, as a
# power cut would have; one still open elsewhere is only marked to go.
#   sh -ec "$(cat loop-attach.sh)" loop-attach IMAGE PATH
set -eu
image=$1 path=$2
for l in $(losetup -j "$image" -O NAME -n); do losetup -d "$l" || true; done
# A device the host kernel made after this node's container started has no
# node in its /dev (see loop-nodes.sh): make the next free one's, and a few
# more for the kubelet, which maps a block volume through a loop device too.
next=$(losetup -f)
i=${next#/dev/loop}
while [ "$i" -le $((${next#/dev/loop} + 4)) ]; do
  [ -e "/dev/loop$i" ] || mknod -m 0660 "/dev/loop$i" b 7 "$i"
  i=$((i + 1))
done
# Direct I/O where the kernel and the file's filesystem allow it (losetup
# only warns when they do not): reads then reach the disk instead of the page
# cache of the image file, which a kind node shares with its host.
dev=$(losetup --find --show --direct-io=on "$image")
ln -sfn "$dev" "$path"
