// TXL_INJECT_FAILURE: parsing, validation against the plan, and the callback failing exactly the named step once.
import { describe, expect, it } from 'vitest';
import { parseXlCfg, resolveDomainConfig } from '../config/index.js';
import { INJECT_FAILURE_ENV, injectedFailureHook, parseInjectedFailure } from './inject.js';
import { MICRO_OP_KINDS, type MicroOp } from './micro-ops.js';
import { planCreate } from './plan.js';

const config = resolveDomainConfig(parseXlCfg([
  'name = "web"', 'kernel = "/boot/vmlinuz"', 'memory = 64', 'disk = [ "/srv/a.img,raw,xvda,rw" ]', 'vif = [ "bridge=xenbr0" ]', '',
].join('\n'), 'web.cfg')).config;
const input = { ...config, kernel: '/boot/vmlinuz' };
const plan = planCreate(input, { random: () => 0 });

/** Runs the hook over the plan as the executor does; returns the (step, phase) it threw at and the error. */
function drive(hook: (op: MicroOp, phase: 'start' | 'done') => void): { at: string; error: unknown } | undefined {
  for (const op of plan) {
    for (const phase of ['start', 'done'] as const) {
      try {
        hook(op, phase);
      } catch (error) {
        return { at: `${op.kind}:${phase}`, error };
      }
    }
  }
  return undefined;
}

describe('parseInjectedFailure', () => {
  it('reads <step>[:start|done], start by default', () => {
    expect(parseInjectedFailure('addDisk')).toEqual({ kind: 'addDisk', phase: 'start' });
    expect(parseInjectedFailure('unpause:done')).toEqual({ kind: 'unpause', phase: 'done' });
    expect(parseInjectedFailure(' buildDomain:start ')).toEqual({ kind: 'buildDomain', phase: 'start' });
  });

  it('refuses an unknown step, listing every accepted one', () => {
    let error: unknown;
    try { parseInjectedFailure('addDsik:done'); } catch (e) { error = e; }
    expect(error).toMatchObject({ code: 'TXL_CREATE_INJECT_SPEC', details: { value: 'addDsik:done', accepted: MICRO_OP_KINDS } });
    const message = (error as Error).message;
    expect(message).toContain(`${INJECT_FAILURE_ENV}='addDsik:done': 'addDsik' is not a step of txl create; accepted: loadKernel, checkDevices,`);
    for (const kind of MICRO_OP_KINDS) expect(message).toContain(kind);
  });

  it('refuses a phase other than start/done and extra fields', () => {
    expect(() => parseInjectedFailure('addVif:middle')).toThrow(/the phase must be 'start' or 'done'/);
    expect(() => parseInjectedFailure('addVif:done:x')).toThrow(/the phase must be 'start' or 'done'/);
    expect(() => parseInjectedFailure(':done')).toThrow(/'' is not a step of txl create/);
  });
});

describe('injectedFailureHook', () => {
  it('is absent when the variable is unset or empty', () => {
    expect(injectedFailureHook({}, plan)).toBeUndefined();
    expect(injectedFailureHook({ [INJECT_FAILURE_ENV]: '' }, plan)).toBeUndefined();
  });

  it('fails exactly the named step and phase, with a typed error naming it', () => {
    for (const op of plan) {
      for (const phase of ['start', 'done'] as const) {
        const hook = injectedFailureHook({ [INJECT_FAILURE_ENV]: `${op.kind}:${phase}` }, plan);
        const hit = drive(hook!);
        expect(hit?.at).toBe(`${op.kind}:${phase}`);
        expect(hit?.error).toMatchObject({ code: 'TXL_CREATE_INJECTED', message: `injected failure at ${op.kind} (${phase})`, details: { step: op.kind, phase } });
      }
    }
  });

  it('fires once only (a retried or repeated step is not failed again)', () => {
    const hook = injectedFailureHook({ [INJECT_FAILURE_ENV]: 'addVif' }, plan)!;
    expect(drive(hook)?.at).toBe('addVif:start');
    expect(drive(hook)).toBeUndefined();
  });

  it('refuses a step this plan does not have, listing the plan\'s steps, before anything runs', () => {
    const bare = planCreate({ ...input, disks: [], vifs: [] }, { paused: true });
    expect(() => injectedFailureHook({ [INJECT_FAILURE_ENV]: 'waitDevices' }, bare)).toThrow(
      `${INJECT_FAILURE_ENV}='waitDevices': this create plan has no waitDevices step; its steps: loadKernel, createDomain, writeDomainSkeleton, prepareBuild, buildDomain, writeXenstoreTree, setupConsole, introduceDomain`,
    );
    expect(() => injectedFailureHook({ [INJECT_FAILURE_ENV]: 'nope' }, bare)).toThrow(/'nope' is not a step of txl create/);
  });
});

describe('MICRO_OP_KINDS', () => {
  it('lists the kinds in the order a full plan runs them', () => {
    const full = planCreate(input, { saveConfig: undefined, random: () => 0 }).map((op) => op.kind);
    // saveDomainConfig is only in plans that save the config.
    expect(MICRO_OP_KINDS.filter((k) => k !== 'saveDomainConfig')).toEqual(full);
  });
});
