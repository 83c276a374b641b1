#!/usr/bin/env bash
# Install what building, testing and benchmarking kcopyd needs on Debian 12.
# Only missing packages are installed; sudo is used when not root.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config liburing-dev clang
      libclang-rt-14-dev libseccomp-dev valgrind python3 util-linux e2fsprogs
      libfuse3-dev fuse3 strace xfsprogs btrfs-progs erofs-utils libuv1-dev)
[ "${1:-}" = "--bench" ] && pkgs+=(fio qemu-utils dcfldd gddrescue libnbd-bin nbdkit time coreutils)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "Installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
