// Differential tests: txl's xl.cfg parser against Xen 4.17's libxlutil (tests/oracle), on the corpus and on
// ≥10,000 generated near-valid files per run. Accept/reject, every setting (name, op, line, value) and
// libxlutil's first error report line must agree.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../toolstack/config/errors.js';
import { parseXlCfg } from '../../toolstack/config/xlcfg.js';
import { oracleParseCfg, oracleParseFiles, type OracleCfg } from '../oracle/oracle.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus');

/** Compares txl with libxlutil on one input; returns a description of the disagreement, or undefined. */
export function disagreement(bytes: Buffer, oracle: OracleCfg, source = 'input'): string | undefined {
  let mine: ReturnType<typeof parseXlCfg> | ConfigError;
  try {
    mine = parseXlCfg(bytes, source, { strings: 'latin1' });
  } catch (error) {
    if (!(error instanceof ConfigError)) return `txl threw a non-ConfigError: ${String(error)}`;
    mine = error;
  }
  if (oracle.crash !== undefined) {
    return mine instanceof ConfigError ? undefined : `libxlutil aborted (signal ${oracle.crash}) but txl accepted`;
  }
  if (oracle.rc !== 0) {
    if (!(mine instanceof ConfigError)) return `libxlutil rejected (${oracle.report ?? ''}) but txl accepted`;
    const first = (oracle.report ?? '').split('\n')[0] ?? '';
    const ours = Buffer.from(String(mine.details.xluReport), 'utf8').toString('latin1');
    if (first !== ours && Buffer.from(first, 'latin1').toString('utf8') !== String(mine.details.xluReport)) {
      return `different first error:\n  libxlutil: ${first}\n  txl:       ${String(mine.details.xluReport)}`;
    }
    return undefined;
  }
  if (mine instanceof ConfigError) return `libxlutil accepted but txl rejected: ${mine.message}`;
  const theirs = (oracle.settings ?? []).map((s) => ({ name: s.name, op: s.op === 1 ? '+=' : '=', line: s.line, value: s.value }));
  const ours = [...mine.settings].reverse().map((s) => ({ name: s.name, op: s.op, line: s.line, value: s.value }));
  const a = JSON.stringify(theirs);
  const b = JSON.stringify(ours);
  return a === b ? undefined : `different settings:\n  libxlutil: ${a}\n  txl:       ${b}`;
}

function corpusFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return corpusFiles(path);
    return name.endsWith('.cfg') ? [path] : [];
  });
}

// ---- the generator of near-valid files ----

// Each pool mixes what libxlutil accepts (weighted up) with what it rejects.
const identArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('memory', 'name', 'disk', 'vif', 'kernel', 'extra', 'a', 'x.y', 'b_2', 'k9') },
  { weight: 1, arbitrary: fc.constantFrom('Memory', 'nAme', '_x', '9x') },
);
const numberArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('0', '64', '0x40', '010', '1e5', '0xff', '12abc', '0x', '007', '99999999999999999999') },
  { weight: 1, arbitrary: fc.constantFrom('0XFF', '-1', '+1', '1.5') },
);
const strCharArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('a', 'b', 'Z', '0', '7', '9', ' ', '\t', '/', ',', '=', '#', ';', '[', ']', ':', '-', '.', '\\\\', '\\n', '\\t', '\\"', "\\'", '\\a', '\\v', '\\012', '\\7 1', '\\3+4', '\r', '\xe9', '\xff', '\x01') },
  { weight: 1, arbitrary: fc.constantFrom('"', "'", '\\', '\\x41', '\\0', '\\01', '\\0-9', '\\q', '\n') },
);
const stringArb = fc.tuple(fc.constantFrom('"', "'"), fc.array(strCharArb, { maxLength: 8 }), fc.integer({ min: 0, max: 19 })).map(([q, chars, close]) =>
  // Now and then the closing quote is missing or is the other quote.
  q + chars.join('') + (close === 0 ? '' : close === 1 ? (q === '"' ? "'" : '"') : q),
);
const wsArb = fc.constantFrom('', '', ' ', '  ', '\t');
const nlokArb = fc.constantFrom('', '', '', '\n', ' # c\n', '\n\n', '#\n', '', '', '\r\n');
const atomArb = fc.oneof({ weight: 8, arbitrary: stringArb }, { weight: 5, arbitrary: numberArb }, { weight: 1, arbitrary: fc.constantFrom('bare', 'True', '(1)', '-') });
const { value: valueArb } = fc.letrec<{ value: string; list: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, atomArb, tie('list')),
  list: fc
    .tuple(nlokArb, fc.array(fc.tuple(tie('value'), nlokArb, fc.constantFrom(',', ',', ',', '', ',,')), { maxLength: 4 }), fc.constantFrom('', '', ',', ']'), wsArb)
    .map(([open, items, trail, ws]) => `[${open}${items.map(([v, nl, sep], i) => `${v}${nl}${i < items.length - 1 ? sep : ''}${ws}`).join('')}${items.length ? trail : ''}]`),
}));
const opArb = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('=', ' = ', '=', '\t=\t', '+=', ' += ') }, { weight: 1, arbitrary: fc.constantFrom('+', '==', '') });
const endArb = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('\n', ';', '; ', ' # comment\n', '\n\n', ';\n') },
  { weight: 1, arbitrary: fc.constantFrom('\r\n', ' ', '') },
);
const stmtArb = fc.tuple(identArb, wsArb, opArb, wsArb, valueArb, wsArb, endArb).map((parts) => parts.join(''));
const mutationArb = fc.array(
  fc.tuple(fc.nat(), fc.constantFrom('', '"', "'", '\n', '#', '[', ']', ',', ';', '=', '+', '\\', ' ', 'A', '\r', '\0', '\t', '1', 'x')),
  { maxLength: 2 },
);
/** A file: statements, an optional final comment (sometimes with no newline), a few single-char mutations. */
const fileArb = fc
  .tuple(fc.array(fc.oneof({ weight: 8, arbitrary: stmtArb }, { weight: 1, arbitrary: fc.constantFrom('\n', '# only a comment\n', ';', '  \n') }), { maxLength: 6 }), fc.constantFrom('', '', '', '', '', '#', '# tail', '# tail\n'), fc.integer({ min: 0, max: 3 }), mutationArb)
  .map(([stmts, tail, mutate, mutations]) => {
    let text = stmts.join('') + tail;
    // One file in four is mutated: a char inserted or replaced at a random place.
    if (mutate === 0) {
      for (const [at, ch] of mutations) {
        const pos = text.length ? at % (text.length + 1) : 0;
        text = at % 2 ? text.slice(0, pos) + ch + text.slice(pos) : text.slice(0, pos) + ch + text.slice(pos + 1);
      }
    }
    return Buffer.from(text, 'latin1');
  });

/** Byte soup: short runs of the lexer's interesting chars and words, to probe its corner cases. */
const soupArb = fc
  .array(fc.constantFrom('a', 'x.y', 'Z', '0', '0x1g', '9', '=', '+=', '+', '-', '[', ']', ',', ';', '"', "'", '"s"', "'t'", '"\\', '\\', '#', '# c\n', '\n', ' ', '\t', '\r', '\0', '\xff', '.', '(', ')', ':', 'memory'), { maxLength: 24 })
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

describe('xl.cfg parser vs libxlutil (differential)', () => {
  it('agrees on every corpus file (xlu_cfg_readfile)', () => {
    const files = corpusFiles(corpus);
    expect(files.length).toBeGreaterThan(15);
    const answers = oracleParseFiles(files);
    const problems = files.flatMap((f, i) => {
      const d = disagreement(readFileSync(f), answers[i]!, f);
      return d ? [`${f}: ${d}`] : [];
    });
    expect(problems).toEqual([]);
    const accepted = answers.filter((a) => a.rc === 0).length;
    console.log(`xl.cfg corpus: ${files.length} files (${accepted} accepted, ${files.length - accepted} rejected), 0 disagreements with libxlutil`);
  });

  it("agrees on every option heading of xl.cfg(5) and its code examples, each parsed as a file", () => {
    const lines = readFileSync(join(corpus, 'man', 'xl.cfg.5-items.txt'), 'latin1').split('\n').filter((l) => l && !l.startsWith('#'));
    const inputs = lines.flatMap((l) => [Buffer.from(`${l}\n`, 'latin1'), Buffer.from(l, 'latin1')]);
    const answers = oracleParseCfg(inputs);
    const problems = inputs.flatMap((b, i) => {
      const d = disagreement(b, answers[i]!);
      return d ? [`${JSON.stringify(b.toString('latin1'))}: ${d}`] : [];
    });
    expect(problems).toEqual([]);
    expect(answers.some((a) => a.rc === 0)).toBe(true);
    expect(answers.some((a) => a.rc !== 0)).toBe(true);
  });

  const count = Number(process.env.TXL_FUZZ_COUNT ?? 10_000);
  it('agrees on ≥10,000 generated near-valid files per run (and 2,000 of byte soup)', () => {
    const seed = Number(process.env.TXL_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const inputs = fc.sample(fileArb, { numRuns: count, seed });
    const soup = fc.sample(soupArb, { numRuns: 2000, seed: seed + 1 });
    const soupAnswers = oracleParseCfg(soup);
    const soupProblems = soup.flatMap((b, i) => {
      const d = disagreement(b, soupAnswers[i]!);
      return d ? [`${JSON.stringify(b.toString('latin1'))}: ${d}`] : [];
    });
    console.log(`xl.cfg byte soup: ${soup.length} inputs, ${soupAnswers.filter((a) => a.rc === 0).length} accepted; ${soupProblems.length} disagreements`);
    expect(soupProblems.slice(0, 5)).toEqual([]);
    const answers = oracleParseCfg(inputs);
    const problems: string[] = [];
    inputs.forEach((b, i) => {
      const d = disagreement(b, answers[i]!);
      if (d) problems.push(`${JSON.stringify(b.toString('latin1'))}: ${d}`);
    });
    const accepted = answers.filter((a) => a.rc === 0).length;
    const crashed = answers.filter((a) => a.crash !== undefined).length;
    console.log(
      `xl.cfg differential: ${inputs.length} generated files (seed ${seed}): ${accepted} accepted, ${inputs.length - accepted - crashed} rejected, ` +
        `${crashed} aborted libxlutil; ${problems.length} disagreements`,
    );
    expect(problems.slice(0, 5)).toEqual([]);
    expect(inputs.length).toBeGreaterThanOrEqual(10_000);
    // A generator that only produced rejects (or only accepts) would prove little.
    expect(accepted).toBeGreaterThan(inputs.length / 6);
    expect(inputs.length - accepted).toBeGreaterThan(inputs.length / 5);
  }, 60_000 + count * 10);
});
