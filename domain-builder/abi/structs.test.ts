// The struct layouts of abi/structs.ts checked against gcc's view of Xen's public headers (libxen-dev), plus round trips.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GRANT_ENTRY_V1, SHARED_INFO, START_INFO, VCPU_GUEST_CONTEXT, decodeStartInfo, decodeVcpuContext, encodeStartInfo, encodeVcpuContext, initSharedInfo } from './structs.js';

const FIELDS: [string, string, number][] = [
  ['start_info_t', 'magic', START_INFO.magic], ['start_info_t', 'nr_pages', START_INFO.nr_pages],
  ['start_info_t', 'shared_info', START_INFO.shared_info], ['start_info_t', 'flags', START_INFO.flags],
  ['start_info_t', 'store_mfn', START_INFO.store_mfn], ['start_info_t', 'store_evtchn', START_INFO.store_evtchn],
  ['start_info_t', 'console.domU.mfn', START_INFO.console_domU_mfn], ['start_info_t', 'console.domU.evtchn', START_INFO.console_domU_evtchn],
  ['start_info_t', 'pt_base', START_INFO.pt_base], ['start_info_t', 'nr_pt_frames', START_INFO.nr_pt_frames],
  ['start_info_t', 'mfn_list', START_INFO.mfn_list], ['start_info_t', 'mod_start', START_INFO.mod_start],
  ['start_info_t', 'mod_len', START_INFO.mod_len], ['start_info_t', 'cmd_line', START_INFO.cmd_line],
  ['start_info_t', 'first_p2m_pfn', START_INFO.first_p2m_pfn], ['start_info_t', 'nr_p2m_frames', START_INFO.nr_p2m_frames],
  ['struct vcpu_guest_context', 'flags', VCPU_GUEST_CONTEXT.flags], ['struct vcpu_guest_context', 'user_regs', VCPU_GUEST_CONTEXT.user_regs],
  ['struct vcpu_guest_context', 'user_regs.rsi', VCPU_GUEST_CONTEXT.rsi], ['struct vcpu_guest_context', 'user_regs.rip', VCPU_GUEST_CONTEXT.rip],
  ['struct vcpu_guest_context', 'user_regs.cs', VCPU_GUEST_CONTEXT.cs], ['struct vcpu_guest_context', 'user_regs.rflags', VCPU_GUEST_CONTEXT.rflags],
  ['struct vcpu_guest_context', 'user_regs.rsp', VCPU_GUEST_CONTEXT.rsp], ['struct vcpu_guest_context', 'user_regs.ss', VCPU_GUEST_CONTEXT.ss],
  ['struct vcpu_guest_context', 'user_regs.es', VCPU_GUEST_CONTEXT.es], ['struct vcpu_guest_context', 'user_regs.ds', VCPU_GUEST_CONTEXT.ds],
  ['struct vcpu_guest_context', 'user_regs.fs', VCPU_GUEST_CONTEXT.fs], ['struct vcpu_guest_context', 'user_regs.gs', VCPU_GUEST_CONTEXT.gs],
  ['struct vcpu_guest_context', 'trap_ctxt', VCPU_GUEST_CONTEXT.trap_ctxt], ['struct vcpu_guest_context', 'ldt_base', VCPU_GUEST_CONTEXT.ldt_base],
  ['struct vcpu_guest_context', 'gdt_frames', VCPU_GUEST_CONTEXT.gdt_frames], ['struct vcpu_guest_context', 'gdt_ents', VCPU_GUEST_CONTEXT.gdt_ents],
  ['struct vcpu_guest_context', 'kernel_ss', VCPU_GUEST_CONTEXT.kernel_ss], ['struct vcpu_guest_context', 'kernel_sp', VCPU_GUEST_CONTEXT.kernel_sp],
  ['struct vcpu_guest_context', 'ctrlreg', VCPU_GUEST_CONTEXT.ctrlreg], ['struct vcpu_guest_context', 'debugreg', VCPU_GUEST_CONTEXT.debugreg],
  ['struct vcpu_guest_context', 'event_callback_eip', VCPU_GUEST_CONTEXT.event_callback_eip],
  ['struct vcpu_guest_context', 'syscall_callback_eip', VCPU_GUEST_CONTEXT.syscall_callback_eip],
  ['struct vcpu_guest_context', 'vm_assist', VCPU_GUEST_CONTEXT.vm_assist], ['struct vcpu_guest_context', 'gs_base_user', VCPU_GUEST_CONTEXT.gs_base_user],
  ['struct vcpu_info', 'evtchn_upcall_mask', SHARED_INFO.evtchn_upcall_mask],
  ['grant_entry_v1_t', 'flags', GRANT_ENTRY_V1.flags], ['grant_entry_v1_t', 'domid', GRANT_ENTRY_V1.domid], ['grant_entry_v1_t', 'frame', GRANT_ENTRY_V1.frame],
];
const SIZES: [string, number][] = [
  ['start_info_t', START_INFO.SIZE], ['struct vcpu_guest_context', VCPU_GUEST_CONTEXT.SIZE], ['struct shared_info', SHARED_INFO.SIZE],
  ['struct vcpu_info', SHARED_INFO.VCPU_INFO_SIZE], ['grant_entry_v1_t', GRANT_ENTRY_V1.SIZE],
];

describe('guest ABI layouts', () => {
  it('match gcc on /usr/include/xen (x86_64, __XEN_TOOLS__)', () => {
    // libxen-dev is in tests/setup.sh's APT_PACKAGES: the headers must be there.
    expect(existsSync('/usr/include/xen/xen.h'), 'install libxen-dev (tests/setup.sh)').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'txl-abi-'));
    const lines = [
      '#define __XEN_TOOLS__ 1', '#include <stdio.h>', '#include <stddef.h>', '#include <stdint.h>',
      '#include <xen/xen.h>', '#include <xen/grant_table.h>', 'int main(void) {',
      ...FIELDS.map(([t, f]) => `printf("%zu\\n", offsetof(${t}, ${f}));`),
      ...SIZES.map(([t]) => `printf("%zu\\n", sizeof(${t}));`),
      'return 0; }',
    ];
    writeFileSync(join(dir, 'l.c'), lines.join('\n'));
    execFileSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')]);
    const got = execFileSync(join(dir, 'l'), { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(got).toEqual([...FIELDS.map(([, , o]) => o), ...SIZES.map(([, s]) => s)]);
  });

  it('round-trips start_info and the vcpu context', () => {
    const fields = {
      magic: 'xen-3.0-x86_64', nrPages: 262144, sharedInfoMfn: 0x12345, flags: 8, storeMfn: 0xabcdef12, storeEvtchn: 1,
      consoleMfn: 0x1_0000_0001, consoleEvtchn: 2, ptBase: 0xffff_ffff_82c2_f000n, nrPtFrames: 27, mfnList: 0x80_0000_0000n,
      modStart: 0x3000n, modLen: 12345, cmdline: 'root=/dev/xvda1 ro', firstP2mPfn: 0x5800, nrP2mFrames: 0x203,
    };
    expect(decodeStartInfo(encodeStartInfo(fields))).toEqual(fields);
    const v = encodeVcpuContext({ rip: 0xffff_ffff_8100_0100n, rsp: 0xffff_ffff_82c4_b000n, rsi: 0xffff_ffff_82c2_c000n, cr3Mfn: 0x1_2345_6789 });
    expect(v.length).toBe(5168);
    expect(decodeVcpuContext(v)).toMatchObject({ rip: 0xffff_ffff_8100_0100n, cr3Mfn: 0x1_2345_6789, cs: 0xe033, ss: 0xe02b, flags: 0x24, kernelSp: 0xffff_ffff_82c4_b000n });
    const page = new Uint8Array(4096).fill(0xff);
    initSharedInfo(page);
    expect(page[1]).toBe(1);
    expect(page[0]).toBe(0);
    expect(page[31 * 64 + 1]).toBe(1);
    expect(page[3135]).toBe(0);
    expect(page[3136]).toBe(0xff);
  });
});
