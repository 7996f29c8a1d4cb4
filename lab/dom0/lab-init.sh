#!/bin/bash
# The lab dom0's PID 1 (after the initramfs switch_root): mounts, Xen daemons, bridge, the checkout, the agent.
# Kernel command line: txl.checkout=PATH (the checkout shared over 9p as tag txlrepo), txl.add=N (extra
# 9p shares txladd0..N-1, mounted under /run/txl-add/I), txl.trace=1 (echo each step).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec </dev/null >/dev/hvc0 2>&1
say() { echo "txl-lab: $*"; }
t0=$(cut -d' ' -f1 /proc/uptime)

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -o remount,rw /
ln -sfn /proc/self/fd /dev/fd; ln -sfn /proc/self/fd/0 /dev/stdin; ln -sfn /proc/self/fd/1 /dev/stdout; ln -sfn /proc/self/fd/2 /dev/stderr
hostname txl-lab

checkout="" adds=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    txl.checkout=*) checkout=${arg#txl.checkout=} ;;
    txl.add=*) adds=${arg#txl.add=} ;;
  esac
done

modprobe -a xen-evtchn xen-privcmd xen-gntdev xen-gntalloc virtio_console 9pnet_virtio 9p 2>&1 | sed 's/^/txl-lab: modprobe: /'
mount -t xenfs xenfs /proc/xen || say "cannot mount xenfs"

xenver=$(cat /etc/txl-lab-xen)
export PATH=/usr/lib/xen-$xenver/bin:$PATH
mkdir -p /run/xenstored /var/lib/xenstored /var/log/xen/console /var/lib/xen /run/xen
xenstored --pid-file /run/xenstored.pid || say "xenstored failed"
xen-init-dom0 >/var/log/xen/xen-init-dom0.log 2>&1 || say "xen-init-dom0 failed: $(tail -n3 /var/log/xen/xen-init-dom0.log)"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || say "xenconsoled failed"

# The checkout (read-only, same absolute path) and the files passed with --add.
if [ -n "$checkout" ]; then
  mkdir -p "$checkout"
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 txlrepo "$checkout" || say "cannot mount the checkout at $checkout"
  # txl's code again over its place, cached (machine.ts CACHED_CODE_DIRS): every txl process reads it,
  # and each uncached 9p round trip costs ~0.1 s under emulation.
  for dir in dist node_modules; do
    [ -d "$checkout/$dir" ] || continue
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose "txlc-$dir" "$checkout/$dir" || say "cannot mount $checkout/$dir (cached)"
  done
  printf '#!/bin/sh\nexec /usr/local/bin/node %s/bin/txl "$@"\n' "$checkout" > /usr/local/bin/txl
  chmod 755 /usr/local/bin/txl
fi
i=0
while [ "$i" -lt "$adds" ]; do
  mkdir -p "/run/txl-add/$i"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "txladd$i" "/run/txl-add/$i" || say "cannot mount share txladd$i"
  i=$((i + 1))
done

# Back-ends and guest networking (loaded after the control path: they are not needed to answer).
(
  modprobe -a xen-blkback xen-netback bridge loop tun 2>&1 | sed 's/^/txl-lab: modprobe: /'
  ip link add xenbr0 type bridge && ip addr add 192.168.210.1/24 dev xenbr0 && ip link set xenbr0 up
  ip link set lo up
  touch /run/txl-lab-backends-ready
) &

# The control agent on the virtio-serial port org.txl.agent (restarted if it ever exits).
port=""
for n in /sys/class/virtio-ports/*/name; do
  [ "$(cat "$n" 2>/dev/null)" = org.txl.agent ] && port=/dev/$(basename "$(dirname "$n")")
done
if [ -z "$port" ]; then say "no virtio-serial port org.txl.agent: the host cannot reach this dom0"; fi
say "userland up in $(awk -v t0="$t0" '{print $1 - t0}' /proc/uptime) s (uptime $(cut -d' ' -f1 /proc/uptime) s)"
(
  cd /
  while [ -n "$port" ]; do
    TXL_LAB_CHECKOUT="$checkout" TXL_LAB_XEN="$xenver" HOME=/root /usr/local/bin/node /usr/local/lib/txl-lab/agent.mjs "$port"
    say "agent exited with status $?; restarting"
    sleep 1
  done
) &

# PID 1 must never exit (that would crash dom0); it reaps orphans while it waits.
while :; do wait; sleep 1; done
