#!/usr/bin/env bash
# Install what pinvm needs to build, test and compare against QEMU, on Debian 12.
# Idempotent: skips apt when everything is already there.
set -eu
pkgs="build-essential clang libclang-rt-14-dev make python3 socat
      libzydis-dev libjansson-dev libzstd-dev qemu-system-x86 lcov"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
