#!/usr/bin/env bash
# Make sure a Docker engine that can run privileged containers (kind nodes)
# answers, and write the environment to use it to $PVREBOOT_STATE/docker.env.
#
# - A user's engine that answers is used as it is when this host's capability
#   bounding set is complete. It is never reconfigured or restarted.
# - Otherwise pvreboot starts its own dockerd (own data-root, exec-root and
#   socket, so it never touches another daemon) whose default OCI runtime is
#   runc-capfix when the bounding set lacks capabilities that --privileged
#   asks for. Debian's docker.io is installed when dockerd is missing.
source "$(dirname "$0")/lib.sh"
STATE=${PVREBOOT_STATE:-/var/lib/pvreboot}
RUN_DIR=${PVREBOOT_RUN:-/run/pvreboot}
DOCKER_DIR=$STATE/docker
SOCK=$RUN_DIR/docker.sock
BRIDGE=br-pvreboot
mkdir -p "$STATE" "$RUN_DIR" "$DOCKER_DIR"

capbnd=$(awk '/^CapBnd/{print $2}' /proc/self/status)
last=$(cat /proc/sys/kernel/cap_last_cap)
full=$(printf '%x' $(( (1 << (last + 1)) - 1 )))
reduced=false
[ "$((16#$capbnd & 16#$full))" != "$((16#$full))" ] && reduced=true

write_env() {
  printf 'export DOCKER_HOST=%s\n' "$1" > "$STATE/docker.env"
  log "docker engine: $1 ($(DOCKER_HOST=$1 docker info --format '{{.ServerVersion}}, runtime {{.DefaultRuntime}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}'))"
}

# Every kind node runs systemd, containerd and a kubelet, each with inotify
# instances: the kernel's default of 128 per user runs out at about eight
# nodes (make qualify's cluster beside the e2e suites' and make e2e's), and a
# new node's kubeadm init then fails. kind's known-issues page gives these.
if [ "$(id -u)" = 0 ]; then
  [ "$(sysctl -n fs.inotify.max_user_instances)" -ge 512 ] || sysctl -q -w fs.inotify.max_user_instances=512
  [ "$(sysctl -n fs.inotify.max_user_watches)" -ge 524288 ] || sysctl -q -w fs.inotify.max_user_watches=524288
fi

# 1. An engine the user already runs, usable as it is?
if [ "$reduced" = false ] && [ -z "${PVREBOOT_OWN_DOCKER:-}" ] && docker info >/dev/null 2>&1; then
  write_env "${DOCKER_HOST:-unix:///var/run/docker.sock}"
  exit 0
fi

# 2. Our own engine, already running?
if DOCKER_HOST=unix://$SOCK docker info >/dev/null 2>&1; then
  write_env "unix://$SOCK"
else
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null || ! command -v iptables >/dev/null; then
    log "installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io iptables >/dev/null
  fi
  runtime_json=""
  if [ "$reduced" = true ]; then
    log "capability bounding set $capbnd is reduced: using the runc-capfix runtime"
    mkdir -p /usr/local/libexec/pvreboot
    (cd "$REPO_ROOT" && go build -o /usr/local/libexec/pvreboot/runc-capfix.new ./cmd/runc-capfix)
    mv /usr/local/libexec/pvreboot/runc-capfix.new /usr/local/libexec/pvreboot/runc-capfix
    runtime_json='"runtimes": {"runc-capfix": {"path": "/usr/local/libexec/pvreboot/runc-capfix"}}, "default-runtime": "runc-capfix",'
  fi
  cat > "$DOCKER_DIR/daemon.json" <<JSON
{
  "data-root": "$DOCKER_DIR/root",
  "exec-root": "$RUN_DIR/docker-exec",
  "pidfile": "$RUN_DIR/docker.pid",
  "hosts": ["unix://$SOCK"],
  "iptables": false,
  "ip-masq": false,
  "bridge": "none",
  $runtime_json
  "storage-driver": "overlay2"
}
JSON
  log "starting pvreboot's own dockerd on unix://$SOCK (log $DOCKER_DIR/dockerd.log)"
  nohup dockerd --config-file "$DOCKER_DIR/daemon.json" >>"$DOCKER_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! > "$RUN_DIR/dockerd.launcher.pid"
  for _ in $(seq 1 120); do
    DOCKER_HOST=unix://$SOCK docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! DOCKER_HOST=unix://$SOCK docker info >/dev/null 2>&1; then
    log "dockerd did not answer within 60s; last log lines:"; tail -n 20 "$DOCKER_DIR/dockerd.log" >&2
    exit 3
  fi
  write_env "unix://$SOCK"
fi
export DOCKER_HOST=unix://$SOCK

# kind's network, with a fixed bridge name so that forwarding can be allowed
# (this daemon does not manage iptables, and FORWARD may default to DROP).
if ! docker network inspect kind >/dev/null 2>&1; then
  docker network create -d bridge \
    -o com.docker.network.bridge.name=$BRIDGE \
    -o com.docker.network.bridge.enable_ip_masquerade=false \
    -o com.docker.network.driver.mtu=1500 \
    --subnet 172.30.0.0/24 --gateway 172.30.0.1 \
    --ipv6 --subnet fc00:f853:ccd:e793::/64 kind >/dev/null
  log "created docker network kind on bridge $BRIDGE"
fi
for dir in -i -o; do
  iptables -C FORWARD $dir $BRIDGE -j ACCEPT 2>/dev/null || iptables -I FORWARD $dir $BRIDGE -j ACCEPT
done
