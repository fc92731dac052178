#!/usr/bin/env bash
# Start a Docker engine for tests when none answers: host networking only (no bridge, no
# iptables), so containers reach loopback services and nothing else is set up.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || { echo "dockerd is missing: apt-get install docker.io" >&2; exit 1; }
mkdir -p /var/lib/docker
setsid -f dockerd --bridge=none --iptables=false --ip-masq=false \
  >/var/log/syncstudio-dockerd.log 2>&1 < /dev/null
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "dockerd did not start; see /var/log/syncstudio-dockerd.log" >&2
exit 1
