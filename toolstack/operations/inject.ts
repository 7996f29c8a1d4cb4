// Test hook of `txl create`: TXL_INJECT_FAILURE=<step>[:start|done] fails that step on purpose, so the lab can prove the rollback.
//
// The executor's onStep callback fails the step it throws from (execute.ts); this turns the environment
// variable into such a callback. The simulator tests call onStep directly; the lab tier
// (tests/xen/rollback.test.ts) needs the real CLI in dom0 to fail at each step, hence a variable.
import { OperationError } from './errors.js';
import { MICRO_OP_KINDS, type MicroOp, type MicroOpKind } from './micro-ops.js';

/** The environment variable `txl create` reads its injected failure from. */
export const INJECT_FAILURE_ENV = 'TXL_INJECT_FAILURE';

/** Where to fail: the first step of `kind` in the plan, before it runs (start) or after it ran (done). */
export interface InjectedFailure {
  readonly kind: MicroOpKind;
  readonly phase: 'start' | 'done';
}

const FORM = `${INJECT_FAILURE_ENV}=<step>[:start|done]`;

/** Parses `<step>[:start|done]` (phase defaults to start). Throws TXL_CREATE_INJECT_SPEC naming what is accepted. */
export function parseInjectedFailure(value: string): InjectedFailure {
  const [kind = '', phase = 'start', ...rest] = value.trim().split(':');
  const kinds: readonly string[] = MICRO_OP_KINDS;
  if (!kinds.includes(kind)) {
    throw new OperationError('TXL_CREATE_INJECT_SPEC', `${INJECT_FAILURE_ENV}='${value}': '${kind}' is not a step of txl create; accepted: ${MICRO_OP_KINDS.join(', ')}`, {
      details: { value, accepted: MICRO_OP_KINDS }, hint: `use ${FORM}, e.g. addDisk:done, or unset ${INJECT_FAILURE_ENV}`,
    });
  }
  if ((phase !== 'start' && phase !== 'done') || rest.length) {
    throw new OperationError('TXL_CREATE_INJECT_SPEC', `${INJECT_FAILURE_ENV}='${value}': the phase must be 'start' or 'done'`, {
      details: { value }, hint: `use ${FORM}`,
    });
  }
  return { kind: kind as MicroOpKind, phase };
}

/**
 * The executor's onStep for the failure `env` asks for, or undefined when TXL_INJECT_FAILURE is unset or
 * empty. Checked against the plan before anything runs: a step the plan does not have is an error (a
 * hook that never fires would let a rollback test pass without testing anything). The callback throws
 * TXL_CREATE_INJECTED "injected failure at <step> (<phase>)" once, at the first step of that kind.
 */
export function injectedFailureHook(env: NodeJS.ProcessEnv, plan: readonly MicroOp[]): ((op: MicroOp, phase: 'start' | 'done') => void) | undefined {
  const value = env[INJECT_FAILURE_ENV];
  if (value === undefined || value.trim() === '') return undefined;
  const at = parseInjectedFailure(value);
  const target = plan.find((op) => op.kind === at.kind);
  if (!target) {
    throw new OperationError('TXL_CREATE_INJECT_SPEC', `${INJECT_FAILURE_ENV}='${value}': this create plan has no ${at.kind} step; its steps: ${plan.map((op) => op.kind).join(', ')}`, {
      details: { value, steps: plan.map((op) => op.kind) },
    });
  }
  let fired = false;
  return (op, phase) => {
    if (fired || op !== target || phase !== at.phase) return;
    fired = true;
    throw new OperationError('TXL_CREATE_INJECTED', `injected failure at ${at.kind} (${at.phase})`, {
      details: { step: at.kind, phase: at.phase }, hint: `${INJECT_FAILURE_ENV} is set in the environment (a test hook); unset it to create the domain`,
    });
  };
}
