#!/bin/sh
# Lists the entries of ROOT, one a line; nothing when ROOT does not exist.
#   sh -c "$(cat list-backings.sh)" list-backings ROOT
set -eu
[ -d "$1" ] || exit 0
ls -1A -- "$1"
