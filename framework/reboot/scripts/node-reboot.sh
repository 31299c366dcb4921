#!/bin/sh
# Reboots the node this runs on (in its host namespaces), detached, after
# DELAY seconds, so that the command that started it returns first.
#   sh -c "$(cat node-reboot.sh)" node-reboot DELAY MODE
# MODE is reboot (systemctl reboot) or sysrq-b (immediate, no sync).
set -eu
delay=$1 mode=$2
case "$delay" in
  '' | *[!0-9]*) echo "node-reboot: delay $delay is not a number of seconds" >&2; exit 2 ;;
esac
case "$mode" in
  reboot | sysrq-b) ;;
  *) echo "node-reboot: mode $mode is not reboot or sysrq-b" >&2; exit 2 ;;
esac
# shellcheck disable=SC2016 # the inner script takes its values as $1 and $2
nohup sh -c '
  sleep "$1"
  if [ "$2" = sysrq-b ]; then
    echo 1 > /proc/sys/kernel/sysrq
    echo b > /proc/sysrq-trigger
  else
    systemctl reboot
  fi' node-reboot "$delay" "$mode" >/dev/null 2>&1 </dev/null &
echo "reboot of $(hostname) in ${delay}s ($mode)"
