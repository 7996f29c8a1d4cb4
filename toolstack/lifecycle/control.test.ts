// Unit tests of the lifecycle parsers and helpers: xl's memory sizes and vCPU counts, monitor actions.
import { describe, expect, it } from 'vitest';
import { parseMemSizeKb, parseVcpuCount } from './control.js';
import { actionFor, preserveSuffix } from './monitor.js';

describe('parseMemSizeKb (xl_parse.c parse_mem_size_kb)', () => {
  it('reads MiB by default and the units b k m g t in either case', () => {
    expect(parseMemSizeKb('256')).toBe(262144n);
    expect(parseMemSizeKb('256m')).toBe(262144n);
    expect(parseMemSizeKb('256M')).toBe(262144n);
    expect(parseMemSizeKb('1g')).toBe(1048576n);
    expect(parseMemSizeKb('2T')).toBe(2n << 30n);
    expect(parseMemSizeKb('512k')).toBe(512n);
    expect(parseMemSizeKb('4096b')).toBe(4n);
    expect(parseMemSizeKb('1023b')).toBe(0n);
  });

  it('follows strtoll: leading blanks and a sign, no digits reads 0', () => {
    expect(parseMemSizeKb(' 5')).toBe(5120n);
    expect(parseMemSizeKb('+5k')).toBe(5n);
    expect(parseMemSizeKb('-1k')).toBe(-1n);
    expect(parseMemSizeKb('')).toBe(0n);
    expect(parseMemSizeKb('m')).toBe(0n);
  });

  it('refuses two characters of suffix or an unknown unit', () => {
    expect(parseMemSizeKb('1mb')).toBeUndefined();
    expect(parseMemSizeKb('12q')).toBeUndefined();
    expect(parseMemSizeKb('1.5g')).toBeUndefined();
    expect(parseMemSizeKb('mb')).toBeUndefined();
  });
});

describe('parseVcpuCount (strtoul as xl vcpu-set uses it)', () => {
  it('takes the leading digits and refuses none or more than INT_MAX', () => {
    expect(parseVcpuCount('2')).toBe(2);
    expect(parseVcpuCount(' 3x')).toBe(3);
    expect(parseVcpuCount('0')).toBe(0);
    expect(parseVcpuCount('x')).toBeUndefined();
    expect(parseVcpuCount('')).toBeUndefined();
    expect(parseVcpuCount('2147483647')).toBe(2147483647);
    expect(parseVcpuCount('2147483648')).toBeUndefined();
  });
});

describe('monitor actions', () => {
  const a = { onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'preserve', onWatchdog: 'rename-restart' } as const;
  it('maps SHUTDOWN_* codes to on_* settings like handle_domain_death', () => {
    expect(actionFor(a, 0)).toBe('destroy');
    expect(actionFor(a, 1)).toBe('restart');
    expect(actionFor(a, 2)).toBe('none');
    expect(actionFor(a, 3)).toBe('preserve');
    expect(actionFor(a, 4)).toBe('rename-restart');
    expect(actionFor({ onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'preserve' }, 4)).toBe('destroy');
    expect(actionFor(a, 5)).toBe('soft-reset');
    expect(actionFor(a, 9)).toBe('destroy');
  });

  it("formats preserve_domain's suffix in UTC", () => {
    expect(preserveSuffix(new Date(Date.UTC(2026, 0, 2, 3, 4, 59)))).toBe('-20260102T0304Z');
  });
});
