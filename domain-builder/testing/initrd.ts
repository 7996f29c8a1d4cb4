// Writes small test initrds: a gzip'd newc cpio archive holding static busybox and an /init script.
//
// newc format: Linux's Documentation/driver-api/early-userspace/buffer-format.rst (110-byte ASCII
// header "070701", name NUL-terminated and padded to 4, data padded to 4, "TRAILER!!!" last).
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** One archive member. */
export interface CpioEntry {
  readonly name: string;
  /** st_mode: 0o040755 directory, 0o100755 executable file... */
  readonly mode: number;
  readonly data?: Uint8Array;
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 ? Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]) : b;
}

/** Encodes entries as a newc cpio archive. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const member = (name: string, mode: number, data: Uint8Array) => {
    const f = (n: number) => n.toString(16).padStart(8, '0');
    const header = `070701${f(ino++)}${f(mode)}${f(0)}${f(0)}${f(1)}${f(0)}${f(data.length)}${f(0)}${f(0)}${f(0)}${f(0)}${f(name.length + 1)}${f(0)}`;
    parts.push(pad4(Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(`${name}\0`, 'latin1')])));
    parts.push(pad4(Buffer.from(data)));
  };
  for (const e of entries) member(e.name, e.mode, e.data ?? new Uint8Array());
  member('TRAILER!!!', 0, new Uint8Array());
  return Buffer.concat(parts);
}

/** The marker the test initrd prints once /init runs (followed by facts about the guest). */
export const INIT_MARKER = 'TXL-INIT-REACHED';

/**
 * A busybox initrd whose /init prints `INIT_MARKER kernel=<release> cpus=<n in /proc/cpuinfo>
 * online=<cpu list, e.g. 0-3> memkb=<MemTotal> physkb=<RAM the kernel found at boot, from its "Memory:"
 * line>` on the console and powers the guest off.
 */
export function writeBusyboxInitrd(path: string, busybox = '/bin/busybox'): string {
  const init = [
    '#!/bin/busybox sh',
    'B=/bin/busybox',
    '$B mount -t proc proc /proc',
    '$B mount -t sysfs sys /sys',
    'cpus=$($B grep -c ^processor /proc/cpuinfo)',
    'online=$($B cat /sys/devices/system/cpu/online)',
    "mem=$($B awk '/MemTotal/ {print $2}' /proc/meminfo)",
    // The kernel's boot line "Memory: 1999000K/2096752K available (...)": the second number is all the
    // RAM it found (MemTotal is that minus the kernel image, its tables and reserved ranges).
    "phys=$($B dmesg | $B sed -n 's/.*Memory: [0-9]*K\\/\\([0-9]*\\)K available.*/\\1/p' | $B head -n 1)",
    `echo "${INIT_MARKER} kernel=$($B uname -r) cpus=$cpus online=$online memkb=$mem physkb=$phys"`,
    '$B sleep 1',
    '$B poweroff -f',
    '',
  ].join('\n');
  const archive = cpioNewc([
    { name: 'bin', mode: 0o040755 },
    { name: 'proc', mode: 0o040755 },
    { name: 'sys', mode: 0o040755 },
    { name: 'dev', mode: 0o040755 },
    { name: 'bin/busybox', mode: 0o100755, data: readFileSync(busybox) },
    { name: 'init', mode: 0o100755, data: Buffer.from(init) },
  ]);
  writeFileSync(path, gzipSync(archive, { level: 6 }));
  return path;
}
