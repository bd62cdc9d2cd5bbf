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
