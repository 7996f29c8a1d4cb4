// xl's formatting rules as txl reproduces them (tools/xl/xl_info.c, xl_utils.c print_bitmap).
import { describe, expect, it } from 'vitest';
import { decodeDomainFlags, type DomainInfo } from '../../hypervisor/index.js';
import { formatCpuSet, formatListRow, printfFixed, stateLetters, uptimeToString } from '../../toolstack/cli/table.js';

function info(flags: number, extra: Partial<DomainInfo> = {}): DomainInfo {
  return {
    domid: 7, flags, ...decodeDomainFlags(flags), totPages: 262144n, maxPages: 0n, outstandingPages: 256n, sharedPages: 0n,
    pagedPages: 0n, sharedInfoFrame: 0n, cpuTimeNs: 1_250_000_000n, onlineVcpus: 4, maxVcpuId: 3, ssidref: 0,
    uuid: '00000000-0000-0000-0000-000000000000', cpupool: 0, gpaddrBits: 52, ...extra,
  };
}

describe('xl formats', () => {
  it('state letters carry the shutdown reason from "-rscwS"', () => {
    expect(stateLetters(info((1 << 2) | (1 << 16)))).toBe('---sr-');
    expect(stateLetters(info((1 << 2) | (3 << 16)))).toBe('---sc-');
    expect(stateLetters(info((1 << 2) | (0 << 16)))).toBe('---s--');
    expect(stateLetters(info((1 << 2) | (9 << 16)))).toBe('---s?-');
    expect(stateLetters(info(0xffff0000 | (1 << 5)))).toBe('r-----');
    expect(stateLetters(info((1 << 0) | (1 << 3)))).toBe('--p--d');
  });

  it('list rows: memory includes outstanding pages, time rounds like %8.1f', () => {
    expect(formatListRow('a-rather-long-name-that-exceeds-forty-characters', info(1 << 4))).toBe(
      'a-rather-long-name-that-exceeds-forty-characters     7  1025     4     -b----       1.2');
    expect(formatListRow(undefined, info(1 << 4, { cpuTimeNs: 99_950_000_000n }))).toMatch(/^\(null\) {34}/);
  });

  it('%.1f rounds the exact binary value half to even, like glibc', () => {
    expect([1.25, 0.05, 2.5, 0.25, 1.35, 99.95, 0, 12.345].map((x) => printfFixed(x, 1))).toEqual(['1.2', '0.1', '2.5', '0.2', '1.4', '100.0', '0.0', '12.3']);
    expect(printfFixed(2.5, 0)).toBe('2');
    expect(printfFixed(3.5, 0)).toBe('4');
    expect(printfFixed(1e21, 1)).toBe('1000000000000000000000.0');
  });

  it('cpu sets print like print_bitmap', () => {
    expect(formatCpuSet([0, 1, 2, 3], 4)).toBe('all');
    expect(formatCpuSet([], 4)).toBe('none');
    expect(formatCpuSet([0, 2, 3, 5], 8)).toBe('0,2-3,5');
    expect(formatCpuSet([1, 2, 3], 4)).toBe('1-3');
  });

  it('uptime strings', () => {
    expect(uptimeToString(59, false)).toBe(' 0:00:59');
    expect(uptimeToString(86400 + 3661, false)).toBe('1 day,  1:01:01');
    expect(uptimeToString(3 * 86400 + 45 * 60, true)).toBe('3 days,  0:45');
  });
});
