// The bundle's stand-in for string-width (string-width-lite.ts) measures what string-width measures.
import stringWidthPackage from 'string-width';
import { describe, expect, it } from 'vitest';
import stringWidth from './string-width-lite.js';

describe('string-width-lite', () => {
  const samples = [
    '', 'a', 'txl create <config> [settings..]', '  -n, --dry-run  Print the resolved configuration  [boolean]',
    '\u001B[1mbold\u001B[22m', '\u001B[31mred\u001B[39m text', '\u001B]8;;https://xenproject.org\u0007link\u001B]8;;\u0007',
    '古', '日本語のテキスト', '한국어', 'ｆｕｌｌ', 'e\u0301', 'zero\u200Bwidth', 'tab\tand\u0007bell', 'Ä Ö Ü ß é', '→ ← ✓',
    '🙂', 'ok 🚀 go', '\uFEFFbom',
  ];
  it.each(samples)('%j', (text) => {
    expect(stringWidth(text)).toBe(stringWidthPackage(text));
  });
  it('counts the help text of every txl command as string-width does', async () => {
    const { COMMANDS } = await import('./commands/index.js');
    expect(COMMANDS.length).toBeGreaterThan(20);
    for (const c of COMMANDS) {
      const text = Object.values(c).filter((v) => typeof v === 'string').join(' ');
      expect(stringWidth(text), text).toBe(stringWidthPackage(text));
    }
  });
});
