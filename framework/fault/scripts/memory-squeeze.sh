#!/bin/sh
# The memory-squeeze fault: put a memory limit on a container's cgroup.
#   sh -c "$(cat memory-squeeze.sh)" memory-squeeze CONTAINER-ID BYTES
# cgroup v2: memory.max (the kernel reclaims down to it). cgroup v1:
# memory.limit_in_bytes; when the kernel refuses the limit (EBUSY: it could
# not reclaim enough at once), the limit comes down in halving steps from the
# current usage, and the cgroup's own pages are reclaimed (memory.force_empty)
# before a step is tried again. Only this cgroup is touched: nothing is
# dropped from the rest of the node's (or, on kind, the host's) page cache.
# Prints the cgroup file and the limit it holds.
set -eu
if [ "$#" -ne 2 ]; then
  echo "memory-squeeze: want CONTAINER-ID BYTES" >&2
  exit 2
fi
cid=$1 bytes=$2
case "$cid" in
  '' | *[!0-9a-f]*) echo "memory-squeeze: container ID $cid: want hex digits" >&2; exit 2 ;;
esac
case "$bytes" in
  '' | *[!0-9]*) echo "memory-squeeze: $bytes: want a number of bytes" >&2; exit 2 ;;
esac
pid=$(crictl inspect --output go-template --template '{{.info.pid}}' "$cid")
case "$pid" in
  '' | 0 | *[!0-9]*) echo "memory-squeeze: container $cid has no process (pid '$pid')" >&2; exit 1 ;;
esac
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  p=$(awk -F: '$1=="0"{print $3}' "/proc/$pid/cgroup")
  if [ -z "$p" ] || [ "$p" = / ]; then echo "memory-squeeze: no cgroup of its own for pid $pid" >&2; exit 1; fi
  f=/sys/fs/cgroup$p/memory.max
  printf '%s\n' "$bytes" > "$f"
  echo "$f $(cat "$f")"
  exit 0
fi
p=$(awk -F: '$2 ~ /(^|,)memory(,|$)/{print $3}' "/proc/$pid/cgroup")
if [ -z "$p" ] || [ "$p" = / ]; then echo "memory-squeeze: no memory cgroup of its own for pid $pid" >&2; exit 1; fi
d=/sys/fs/cgroup/memory$p
f=$d/memory.limit_in_bytes
set_limit() { printf '%s\n' "$1" 2>/dev/null > "$f"; }
if ! set_limit "$bytes"; then
  cur=$(cat "$d/memory.usage_in_bytes")
  refused=0
  while [ "$cur" -gt "$bytes" ]; do
    next=$((cur / 2))
    if [ "$next" -lt "$bytes" ]; then next=$bytes; fi
    if set_limit "$next"; then
      cur=$next
      continue
    fi
    refused=$((refused + 1))
    if [ "$refused" -ge 8 ]; then
      echo "memory-squeeze: the kernel refuses a limit of $next bytes on $f (usage $(cat "$d/memory.usage_in_bytes") bytes)" >&2
      exit 1
    fi
    printf '0\n' 2>/dev/null > "$d/memory.force_empty" || true
  done
  if ! set_limit "$bytes"; then
    echo "memory-squeeze: cannot write $bytes to $f" >&2
    exit 1
  fi
fi
echo "$f $(cat "$f")"
