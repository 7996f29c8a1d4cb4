#!/bin/busybox sh
# The lab's tiny initramfs /init: load the virtio and ext4 modules, mount the dom0 root disk, switch_root.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "txl-lab: initramfs" > /dev/hvc0 2>/dev/null
for m in $(cat /modules.list); do insmod "/lib/modules/$m" || echo "txl-lab: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o rw,noatime /dev/vda /newroot; then
  echo "txl-lab: cannot mount the dom0 root disk /dev/vda ($(ls /dev/vd* 2>&1); filesystems: $(grep -v nodev /proc/filesystems | tr -s '\t\n' '  '))"
  exit 1 # PID 1 exiting panics dom0: the host sees the crash at once
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/txl-lab-init
