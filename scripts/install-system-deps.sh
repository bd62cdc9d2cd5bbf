#!/usr/bin/env bash
# Debian packages the test tiers need. Run as root on Debian 12.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
  iproute2 iptables nftables conntrack tcpdump \
  coturn \
  redis-server \
  chromium \
  python3 make g++ \
  gcc libnetfilter-queue-dev
# Port mapping (issue 11): the router daemon netsim runs, and the reference clients.
apt-get install -y --no-install-recommends \
  miniupnpd-nftables miniupnpc natpmpc libnftnl-dev libmnl-dev dpkg-dev pkg-config
# miniupnpd rebuilt from Debian's source with the lab's RFC 5737 prefixes allowed (see script).
"$(dirname "$0")/build-miniupnpd.sh"
# Node 24 LTS beside the system's Node 20, for the relay/STUN worker tests (scripts/test-node24.sh);
# from the npm registry into .cache/node24, never into node_modules.
bash "$(dirname "$0")/install-node24.sh"
