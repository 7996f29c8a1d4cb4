#!/bin/sh
# Guest set-up run by mmdebstrap as a customize hook (txl image build): `customize.sh ROOT STAGE`.
# ROOT is the new system (we are root there: real root, or root of mmdebstrap's user namespace).
# STAGE holds what image-tools/plan.ts prepared: settings.env, files/ (the rendered and overlay
# tree), users.tsv, *.keys, and out/ where the kernel and initrd are copied for direct boot.
set -eu
root=$1
stage=$2
. "$stage/settings.env"

# 1. Files: the template overlays and the rendered guest files (hostname, hosts, fstab, network...).
#    -R copies the tree; ownership becomes root because we are root; modes are kept.
cp -R --preserve=mode,timestamps,links "$stage/files/." "$root/"
if [ -f "$stage/inittab-hvc0" ] && [ -f "$root/etc/inittab" ]; then
  # sysvinit: no virtual terminals in a PV guest; comment out the tty gettys, then add hvc0.
  sed -i -e 's/^\([1-6]:[0-9]*:respawn:.*getty.*tty[1-6]\)$/#\1/' "$root/etc/inittab"
  cat "$stage/inittab-hvc0" >> "$root/etc/inittab"
fi

# 2. Console: systemd starts a getty on hvc0 through this link (what `systemctl enable
#    serial-getty@hvc0` makes). The generic getty@tty1 link is removed: no VTs in a PV guest.
if [ "$TXL_INIT" = systemd ]; then
  mkdir -p "$root/etc/systemd/system/getty.target.wants"
  ln -sf /lib/systemd/system/serial-getty@.service "$root/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"
  rm -f "$root/etc/systemd/system/getty.target.wants/getty@tty1.service"
fi

if [ "$TXL_INIT" = upstart ]; then
  # upstart (Ubuntu <= 14.04): hvc0.conf comes from files/; the tty1-6 jobs would respawn forever.
  rm -f "$root"/etc/init/tty[1-6].conf
fi

# 3. Network back-end units for systemd-networkd (netplan also renders to networkd).
if [ "$TXL_NETWORK" = networkd ] || [ "$TXL_NETWORK" = netplan ]; then
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
fi

# 4. Accounts: root's password hash, extra users (users.tsv: name<TAB>hash<TAB>groups<TAB>shell).
if [ -n "$TXL_ROOT_HASH" ]; then
  chroot "$root" usermod -p "$TXL_ROOT_HASH" root
fi
install_keys() { # install_keys KEYFILE HOME OWNER
  [ -s "$1" ] || return 0
  install -d -m 0700 "$root$2/.ssh"
  install -m 0600 "$1" "$root$2/.ssh/authorized_keys"
  chroot "$root" chown -R "$3:" "$2/.ssh"
}
install_keys "$stage/root.keys" /root root
if [ -s "$stage/users.tsv" ]; then
  tab=$(printf '\t')
  while IFS="$tab" read -r name hash groups shell; do
    chroot "$root" useradd --create-home --shell "$shell" ${groups:+--groups "$groups"} ${hash:+--password "$hash"} "$name"
    install_keys "$stage/user-$name.keys" "/home/$name" "$name"
  done < "$stage/users.tsv"
fi

# 5. Locale and time zone.
printf 'LANG=%s\n' "$TXL_LOCALE" > "$root/etc/default/locale"
if [ "$TXL_LOCALE" != C.UTF-8 ] && [ "$TXL_LOCALE" != C ] && [ -f "$root/etc/locale.gen" ]; then
  printf '%s UTF-8\n' "$TXL_LOCALE" > "$root/etc/locale.gen"
  chroot "$root" locale-gen
fi
ln -sf "/usr/share/zoneinfo/$TXL_TIMEZONE" "$root/etc/localtime"
printf '%s\n' "$TXL_TIMEZONE" > "$root/etc/timezone"

# 6. The kernel and initrd for direct boot (newest version when there are several).
kernel=$(ls -1 "$root"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$kernel" ]; then
  echo "customize: no /boot/vmlinuz-* in the image (is a kernel package in the recipe?)" >&2
  exit 1
fi
version=${kernel##*/vmlinuz-}
cp "$kernel" "$stage/out/vmlinuz"
if [ -f "$root/boot/initrd.img-$version" ]; then
  cp "$root/boot/initrd.img-$version" "$stage/out/initrd.img"
fi
echo "$version" > "$stage/out/kernel-version"

# 7. Per-machine state that must not be baked into an image shared by many guests:
#    SSH host keys (regenerated at first boot by ssh-hostkeys.service from the template overlay)
#    and the machine id (systemd makes one at first boot when the file is empty).
rm -f "$root"/etc/ssh/ssh_host_*_key "$root"/etc/ssh/ssh_host_*_key.pub
if [ -f "$root/etc/machine-id" ]; then : > "$root/etc/machine-id"; fi
rm -f "$root/var/lib/dbus/machine-id"

# 8. Reproducibility: modification times are clamped to SOURCE_DATE_EPOCH by txl after mmdebstrap has
#    finished (its own clean-up still changes folders after this hook), and the inode times by debugfs.
