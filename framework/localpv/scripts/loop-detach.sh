#!/bin/sh
# ExecStop of a block volume's loop service: remove PATH and detach IMAGE.
#   sh -c "$(cat loop-detach.sh)" loop-detach IMAGE PATH
set -u
image=$1 path=$2
rm -f "$path"
for l in $(losetup -j "$image" -O NAME -n); do losetup -d "$l"; done
