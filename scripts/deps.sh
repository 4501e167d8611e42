#!/bin/bash
# Installs the Debian packages the build and the tests need, only when missing.
# usage: scripts/deps.sh [build|test]
set -euo pipefail
want=(pkg-config libblkid-dev zlib1g-dev libcurl4-openssl-dev e2fsprogs fdisk util-linux bc)
if [ "${1:-build}" = test ]; then
    want+=(postgresql nginx-light wrk python3)
    # judges for the bootloader environment tests: grub-editenv, fw_printenv/fw_setenv, mkenvimage
    want+=(grub-common libubootenv-tool u-boot-tools)
fi
missing=()
for package in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
