#!/bin/sh
# The io-throttle fault: limit a container's reads from one block device.
#   sh -c "$(cat io-throttle.sh)" io-throttle CONTAINER-ID MAJ:MIN BYTES-PER-SECOND
# Prints the cgroup file it wrote.
set -eu
cid=$1 dev=$2 bps=$3
pid=$(crictl inspect --output go-template --template '{{.info.pid}}' "$cid")
case "$pid" in
  '' | 0 | *[!0-9]*) echo "io-throttle: container $cid has no process (pid '$pid')" >&2; exit 1 ;;
esac
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  p=$(awk -F: '$1=="0"{print $3}' "/proc/$pid/cgroup")
  if [ -z "$p" ] || [ "$p" = / ]; then echo "io-throttle: no cgroup of its own for pid $pid" >&2; exit 1; fi
  f=/sys/fs/cgroup$p/io.max
  printf '%s rbps=%s\n' "$dev" "$bps" > "$f"
else
  p=$(awk -F: '$2 ~ /(^|,)blkio(,|$)/{print $3}' "/proc/$pid/cgroup")
  if [ -z "$p" ] || [ "$p" = / ]; then echo "io-throttle: no blkio cgroup of its own for pid $pid" >&2; exit 1; fi
  f=/sys/fs/cgroup/blkio$p/blkio.throttle.read_bps_device
  printf '%s %s\n' "$dev" "$bps" > "$f"
fi
echo "$f"
