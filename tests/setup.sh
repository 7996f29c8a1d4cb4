#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine: apt packages, npm packages, the build.
# Idempotent and quiet when everything is already there. Run by tests/run.sh (npm test).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suite uses. Add to this list, with a comment saying which tier needs it.
APT_PACKAGES=(
  gcc make             # C helpers and guest fixtures
  libxen-dev           # libxlutil oracle for the xl.cfg parser (needs no Xen)
  qemu-system-x86      # the lab: real Xen under QEMU TCG
  cpio xz-utils zstd lz4 bzip2 e2fsprogs busybox-static  # lab initramfs, kernel payloads, images
  kmod                 # guest fixtures: depmod/modprobe pick the initrd's PV modules from a kernel package
  lzop                 # domain-builder tests: LZO kernel payloads (lzop -9, as Linux builds them)
  mmdebstrap debootstrap # lab dom0 root and guest images
  debian-archive-keyring # lab: mmdebstrap verifies bookworm and trixie (Xen 4.20) archives
  fdisk gdisk          # image-tools unit tests: sfdisk and sgdisk check the GPT txl writes
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: install when node_modules is missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund >/dev/null
fi

# The CLI runs from dist/ (bin/txl, through dist/bundle); tests spawn it, so build both fresh.
npm run --silent build >/dev/null
