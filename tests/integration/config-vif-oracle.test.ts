// Differential tests: txl's vif rate parser against xlu_vif_parse_rate (Xen 4.17 libxlutil, tests/oracle), on the
// examples of xl-network-configuration(5) and generated rates.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../toolstack/config/errors.js';
import { parseVifRate, parseVifSpec } from '../../toolstack/config/vif.js';
import { oracleParseRates } from '../oracle/oracle.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus');

function compare(rates: string[]): string[] {
  const answers = oracleParseRates(rates);
  return rates.flatMap((rate, i) => {
    const oracle = answers[i]!;
    let mine: { bytesPerInterval: bigint; intervalUsecs: number } | undefined;
    try {
      mine = parseVifRate(rate);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
    if ((oracle.rc === 0) !== (mine !== undefined)) return [`${JSON.stringify(rate)}: libxlutil rc ${oracle.rc} (${oracle.report?.trim()}), txl ${mine ? 'accepted' : 'rejected'}`];
    if (mine && (BigInt(oracle.bytes_per_interval!) !== mine.bytesPerInterval || oracle.interval_usecs !== mine.intervalUsecs)) {
      return [`${JSON.stringify(rate)}: libxlutil ${oracle.bytes_per_interval}/${oracle.interval_usecs}, txl ${mine.bytesPerInterval}/${mine.intervalUsecs}`];
    }
    return [];
  });
}

describe('vif rates vs xlu_vif_parse_rate (differential)', () => {
  it('agrees on every vif example of xl-network-configuration(5)', () => {
    const specs = readFileSync(join(corpus, 'man', 'xl-network-configuration.5-examples.txt'), 'utf8').split('\n').filter((l) => !l.startsWith('#'));
    const rates = specs.flatMap((s) => s.split(',')).filter((t) => t.startsWith('rate=')).map((t) => t.slice(5));
    expect(rates.length).toBe(3);
    expect(compare(rates)).toEqual([]);
    // Every example spec is accepted by txl's vif parser without warnings.
    for (const spec of specs) expect(parseVifSpec(spec).warnings).toEqual([]);
  });

  it('agrees on 2,000 generated rates per run', () => {
    const seed = Number(process.env.TXL_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const num = fc.constantFrom('0', '1', '10', '010', '09', '250', '4294967295', '4294967296', '99999999999', '0x10', '');
    const rates = fc.sample(
      fc.tuple(num, fc.constantFrom('', 'G', 'M', 'K', 'k'), fc.constantFrom('B', 'b', 'x'), fc.constantFrom('/s', '/m', ''),
        fc.option(fc.tuple(num, fc.constantFrom('', 's', 'ms', 'us', 'm', 'u', 'x'))))
        .map(([n, mult, unit, per, at]) => `${n}${mult}${unit}${per}${at ? `@${at[0]}${at[1]}` : ''}`),
      { numRuns: 2000, seed },
    );
    const problems = compare(rates);
    console.log(`vif-rate differential: ${rates.length} generated rates (seed ${seed}); ${problems.length} disagreements`);
    expect(problems.slice(0, 5)).toEqual([]);
  });
});
