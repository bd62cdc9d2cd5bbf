#!/usr/bin/env bash
# Builds the miniupnpd that netsim's `miniupnpd` NAT option runs, from Debian's own source.
#
# Why a build: Debian 12's miniupnpd 2.3.1 refuses to map anything while its WAN address is in
# a reserved range (getifaddr.c `reserved[]`), and the lab's whole internet is the RFC 5737
# documentation prefixes 203.0.113.0/24 and 198.51.100.0/24, both on that list. 2.3.1 has no
# switch for it (upstream added `ext_allow_private_ipv4` in 2.3.9), so we delete exactly those
# two lines and build with Debian's own configure flags. Everything else is Debian's 2.3.1.
#
# Two binaries, because the IGD version is a compile-time choice:
#   .cache/miniupnpd/miniupnpd       --igd2 (as Debian ships it): WANIPConnection:2
#   .cache/miniupnpd/miniupnpd-igd1  without --igd2: WANIPConnection:1
# .cache/ is gitignored. Idempotent: does nothing when both binaries are there and the source
# version matches. Needs root (apt), network, gcc, libnftnl-dev, libmnl-dev (installed here).
# Usage: scripts/build-miniupnpd.sh [OUT_DIR]   (default <repo>/.cache/miniupnpd)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$REPO/.cache/miniupnpd}"
VERSION=2.3.1
STAMP="$OUT/version"

if [ -x "$OUT/miniupnpd" ] && [ -x "$OUT/miniupnpd-igd1" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION-natpush1" ]; then
  echo "miniupnpd $VERSION already built in $OUT"
  exit 0
fi

# `apt-get source` needs a deb-src line; add one for bookworm main next to the deb lines.
SRC_LIST=/etc/apt/sources.list.d/natpush-deb-src.sources
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat >"$SRC_LIST" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq
fi
apt-get install -y --no-install-recommends dpkg-dev gcc make pkg-config libnftnl-dev libmnl-dev >/dev/null

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# _apt cannot write into a mktemp dir owned by root; the warning is harmless, silence it.
chmod 755 "$WORK"
apt-get source --download-only "miniupnpd=$VERSION-1" >/dev/null 2>&1
dpkg-source -x "miniupnpd_$VERSION-1.dsc" src >/dev/null
cd src

# The two RFC 5737 lines, matched exactly: fail loudly if the source ever changes shape.
for net in '198,  51, 100' '203,   0, 113'; do
  grep -q "{ IP($net, 0), MSK(24) }" getifaddr.c || {
    echo "build-miniupnpd: reserved[] entry $net not found in getifaddr.c" >&2
    exit 1
  }
  sed -i "/{ IP($net, 0), MSK(24) }/d" getifaddr.c
done

mkdir -p "$OUT"
build() { # $1 = output name, rest = configure flags (Debian's, see debian/rules)
  local name="$1"
  shift
  make -f Makefile.linux_nft clean >/dev/null 2>&1 || true
  rm -f config.h .configure.cache
  ./configure "$@" --ipv6 --vendorcfg --pcp-peer --portinuse --leasefile --firewall=nftables >/dev/null
  make -j2 -f Makefile.linux_nft miniupnpd >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
  install -m 0755 miniupnpd "$OUT/$name.tmp"
  mv "$OUT/$name.tmp" "$OUT/$name"
}
build miniupnpd --igd2
build miniupnpd-igd1
echo "$VERSION-natpush1" >"$STAMP"
echo "built $OUT/miniupnpd (IGDv2) and $OUT/miniupnpd-igd1 (IGDv1)"
