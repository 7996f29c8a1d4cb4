#!/usr/bin/env bash
# Builds one lab dom0 image set from Debian packages (run by lab/build.ts under flock; see lab/README.md).
#
# usage: build.sh OUT_DIR APT_CACHE SUITE MIRROR("" = mmdebstrap default) XEN_VERSION NODE_BINARY BUSYBOX_BINARY
# Writes OUT_DIR.tmp-PID/ and renames it to OUT_DIR when complete: xen.elf, vmlinuz, initrd.cpio.gz,
# root.img (ext4, the dom0 root), manifest.json. Needs root (mmdebstrap --mode=root, chroot).
set -euo pipefail
out=$1 apt_cache=$2 suite=$3 mirror=$4 xen=$5 node_bin=$6 busybox_bin=$7
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here=$(cd "$(dirname "$0")" && pwd)
[ -e "$out/manifest.json" ] && { echo "build: $out already built" >&2; exit 0; }
[ "$(id -u)" = 0 ] || { echo "build: the lab image build needs root (mmdebstrap --mode=root, chroot, mke2fs -d)" >&2; exit 1; }
for tool in mmdebstrap mke2fs cpio gzip dpkg-deb xz; do
  command -v "$tool" >/dev/null || { echo "build: '$tool' is missing (tests/setup.sh installs it)" >&2; exit 1; }
done

tmp="$out.tmp-$$"
rm -rf "$tmp"; mkdir -p "$tmp" "$apt_cache"
cleanup() { [ -d "$tmp" ] && rm -rf "$tmp"; }
trap cleanup EXIT
root="$tmp/root"
t0=$(date +%s)

# 1. The dom0 userland: Debian minbase plus the Xen tools; apt downloads are kept in APT_CACHE.
#    The hypervisor and the kernel are only downloaded (into the same cache), then unpacked below.
pkgs="xen-utils-$xen,xenstore-utils,iproute2,kmod,bash,coreutils,util-linux,procps,busybox,e2fsprogs"
mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
  --skip=download/empty --skip=essential/unlink \
  --include="$pkgs" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $apt_cache /var/cache/apt/archives/" \
  --customize-hook="chroot \"\$1\" sh -c 'apt-get install -y -qq -d --no-install-recommends xen-hypervisor-$xen-amd64 linux-image-amd64 >/dev/null'" \
  --customize-hook="chroot \"\$1\" sh -c 'kpkg=\$(apt-cache depends linux-image-amd64 | sed -n \"s/^ *Depends: \\(linux-image-[0-9].*\\)/\\1/p\" | head -n1); for p in \$kpkg xen-hypervisor-$xen-amd64; do apt-cache show --no-all-versions \$p | sed -n \"s|^Filename: .*/||p\"; done' > \"\$1\"/../boot-debs" \
  --customize-hook='mkdir -p "$1"/../debs && while read -r f; do cp "$1"/var/cache/apt/archives/"$f" "$1"/../debs/; done < "$1"/../boot-debs' \
  --customize-hook="sync-out /var/cache/apt/archives $apt_cache" \
  "$suite" "$root" ${mirror:+"$mirror"}
echo "build: dom0 root ready after $(( $(date +%s) - t0 )) s" >&2

# 2. Kernel (into the root: /boot, /lib/modules) and hypervisor (gunzipped: QEMU loads the multiboot ELF).
#    (Unpacked beside the root, not into it: tar would replace the root's usr-merge /lib symlink.)
mkdir -p "$tmp/xenpkg" "$tmp/kpkg"
for deb in "$tmp"/debs/*.deb; do
  case "$(basename "$deb")" in
    linux-image-*) dpkg-deb -x "$deb" "$tmp/kpkg" ;;
    xen-hypervisor-*) dpkg-deb -x "$deb" "$tmp/xenpkg" ;;
  esac
done
gunzip -c "$tmp"/xenpkg/boot/xen-"$xen"-amd64.gz > "$tmp/xen.elf"
kmods=""
for d in "$tmp"/kpkg/lib/modules/* "$tmp"/kpkg/usr/lib/modules/*; do [ -d "$d" ] && kmods=$d; done
[ -n "$kmods" ] || { echo "build: no modules in the kernel package" >&2; exit 1; }
kver=$(basename "$kmods")
cp "$tmp/kpkg/boot/vmlinuz-$kver" "$tmp/vmlinuz"
mkdir -p "$root/usr/lib/modules"
mv "$kmods" "$root/usr/lib/modules/$kver"

# Modules dom0 never needs under QEMU (hardware drivers, sound, wireless): dropped to keep the image small.
mods="$root/lib/modules/$kver/kernel"
rm -rf "$mods"/sound "$mods"/drivers/{gpu,media,infiniband,staging,usb,hid,iio,input,isdn,mtd,bluetooth,video,hwmon,platform,scsi,ata,mmc,nfc,leds,power,thunderbolt,edac,firewire,misc,ntb,target,spi,i2c,pinctrl,regulator,rtc,comedi,fpga,parport,pcmcia,ssb,bcma,memstick,w1,uwb,atm,net/wireless,net/ethernet,net/can,net/usb,net/ieee802154,net/wwan}
rm -rf "$mods"/net/{wireless,mac80211,bluetooth,nfc,ieee802154,mac802154,can,rxrpc,sunrpc,ceph}
chroot "$root" depmod "$kver"

# 3. The lab's own files: init, control agent, lean block hotplug script, node.
install -m 0755 "$here/lab-init.sh" "$root/sbin/txl-lab-init"
install -d "$root/usr/local/lib/txl-lab"
install -m 0644 "$here/agent.mjs" "$root/usr/local/lib/txl-lab/agent.mjs"
install -m 0755 "$here/block-lab" "$root/etc/xen/scripts/block-lab"
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
chroot "$root" /usr/local/bin/node -e 'process.exit(0)' || { echo "build: the host's node does not run in the dom0 root" >&2; exit 1; }
echo "txl-lab" > "$root/etc/hostname"
echo "$xen" > "$root/etc/txl-lab-xen"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# 4. The root filesystem image (no mount, no loop: mke2fs -d). QEMU opens it with snapshot=on.
size_mb=$(( $(du -sm "$root" | cut -f1) * 13 / 10 + 512 ))
mke2fs -q -t ext4 -O ^has_journal -L txl-dom0 -d "$root" "$tmp/root.img" "${size_mb}M"

# 5. A tiny initramfs: busybox, the modules to reach the root disk, an /init that switch_roots.
ird="$tmp/initrd"
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
install -m 0755 "$busybox_bin" "$ird/bin/busybox"
install -m 0755 "$here/initrd-init.sh" "$ird/init"
: > "$ird/modules.list"
chroot "$root" modprobe -a -S "$kver" --show-depends virtio_pci virtio_blk crc32c_generic ext4 | while read -r kind path _; do
  [ "$kind" = insmod ] || continue
  name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
  grep -qx "$name" "$ird/modules.list" && continue
  case "$path" in
    *.xz) xz -dc "$root$path" > "$ird/lib/modules/$name" ;;
    *.zst) zstd -qdc "$root$path" > "$ird/lib/modules/$name" ;;
    *) cp "$root$path" "$ird/lib/modules/$name" ;;
  esac
  echo "$name" >> "$ird/modules.list"
done
(cd "$ird" && find . | cpio --quiet -o -H newc | gzip -1) > "$tmp/initrd.cpio.gz"

# 6. Modules a busybox domU on this kernel needs for its disk, network and ext4 (uncompressed, in
#    load order in guest-modules/modules.list): guest initrds copy them (labGuestModules()).
mkdir -p "$tmp/guest-modules"
: > "$tmp/guest-modules/modules.list"
chroot "$root" modprobe -a -S "$kver" --show-depends xen-blkfront xen-netfront crc32c_generic ext4 | while read -r kind path _; do
  [ "$kind" = insmod ] || continue
  name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
  grep -qx "$name" "$tmp/guest-modules/modules.list" && continue
  case "$path" in
    *.xz) xz -dc "$root$path" > "$tmp/guest-modules/$name" ;;
    *.zst) zstd -qdc "$root$path" > "$tmp/guest-modules/$name" ;;
    *) cp "$root$path" "$tmp/guest-modules/$name" ;;
  esac
  echo "$name" >> "$tmp/guest-modules/modules.list"
done

cat > "$tmp/manifest.json" <<JSON
{"xen": "$xen", "suite": "$suite", "kernelVersion": "$kver", "debs": [$(sed 's/.*/"&"/' "$tmp/boot-debs" | paste -sd,)], "rootImageMiB": $size_mb, "builtAt": "$(date -u +%FT%TZ)", "buildSeconds": $(( $(date +%s) - t0 ))}
JSON
rm -rf "$root" "$ird" "$tmp/xenpkg" "$tmp/kpkg" "$tmp/debs"
mv -T "$tmp" "$out"
trap - EXIT
echo "build: $out built in $(( $(date +%s) - t0 )) s" >&2
