// Unit tests of the xl.cfg parser: values as libxlutil holds them, its quirks, and errors naming file:line and token.
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { parseXlCfg } from './xlcfg.js';

function parseError(text: string): ConfigError {
  try {
    parseXlCfg(text, 'test.cfg');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe('parseXlCfg', () => {
  it('keeps numbers as written and dequotes both quote styles', () => {
    const cfg = parseXlCfg('memory = 0x40\nmaxmem=010\nname = \'a\\\'b\'\nx = "t\\tq\\"\\\\"\n', 'test.cfg');
    expect(cfg.toJSON()).toEqual({ memory: '0x40', maxmem: '010', name: "a'b", x: 't\tq"\\' });
  });

  it('reads lists over several lines with comments, trailing commas and nesting', () => {
    const cfg = parseXlCfg('disk = [ "a",  # first\n  # between\n  "b",\n]\nn = [[1, []], "x",]\n', 'test.cfg');
    expect(cfg.get('disk')).toEqual({ name: 'disk', op: '=', line: 1, value: ['a', 'b'] });
    expect(cfg.get('n')!.value).toEqual([['1', []], 'x']);
  });

  it('applies += to strings and lists; the last assignment wins; ; separates statements', () => {
    const cfg = parseXlCfg('a = "x"; a += "y"\nl = [1]\nl += [2]\nl += [3]; m = 1; m = 2', 'test.cfg');
    expect(cfg.toJSON()).toEqual({ a: 'xy', l: ['1', '2', '3'], m: '2' });
    // libxlutil moves a list's items into the += result: the older settings hold [].
    expect(cfg.settings.filter((s) => s.name === 'l').map((s) => s.value)).toEqual([[], [], ['1', '2', '3']]);
    expect(cfg.get('l')!.op).toBe('+=');
  });

  it('drops octal escapes and accepts a lone # or + at the very end (flex quirks)', () => {
    expect(parseXlCfg('x = "a\\0123b"\n', 't').toJSON()).toEqual({ x: 'ab' });
    expect(parseXlCfg('x = 1 #', 't').toJSON()).toEqual({ x: '1' });
    expect(parseXlCfg('x = 1 +', 't').toJSON()).toEqual({ x: '1' });
  });

  it('decodes UTF-8 strings by default and keeps bytes with strings: latin1', () => {
    expect(parseXlCfg('x = "é"\n', 't').toJSON()).toEqual({ x: 'é' });
    expect(parseXlCfg(Buffer.from('x = "é"\n'), 't', { strings: 'latin1' }).toJSON()).toEqual({ x: '\xc3\xa9' });
  });

  it.each([
    ['name = "a"\r\nmemory = 1\r\n', 'TXL_CFG_LEXICAL', 1, '\\x0d'],
    ['name = "a"\n# no newline', 'TXL_CFG_LEXICAL', 2, '#'],
    ['name = ubuntu\n', 'TXL_CFG_SYNTAX', 1, 'ubuntu'],
    ['\nmemory = -1\n', 'TXL_CFG_LEXICAL', 2, '-1'],
    ['Memory = 1\n', 'TXL_CFG_LEXICAL', 1, 'Memory'],
    ['x = "\\x41"\n', 'TXL_CFG_LEXICAL', 1, '"\\x41"'],
    ['x = [1,,2]\n', 'TXL_CFG_SYNTAX', 1, ','],
    ['x = [1]\nx += "a"\n', 'TXL_CFG_LEXICAL', 2, '"a"'],
    ['x = 1 y = 2\n', 'TXL_CFG_SYNTAX', 1, 'y'],
  ])('rejects %j with %s naming line %i and the token', (text, code, line, token) => {
    const error = parseError(text);
    expect(error.code).toBe(code);
    expect(error.details.line).toBe(line);
    expect(error.details.token).toBe(token);
    expect(error.message).toMatch(new RegExp(`^test\\.cfg:${line}: `));
    if (text.includes('# no newline')) expect(error.hint).toMatch(/comment .* newline/);
  });

  it('applies command-line settings as xl create does, and says where an error in one is', () => {
    const base = parseXlCfg('name = "a"\n', 'f.cfg');
    expect(base.withOverrides(['memory=64', 'name="b"']).toJSON()).toEqual({ name: 'b', memory: '64' });
    expect(() => base.withOverrides(['memory=abc'])).toThrow(/^f\.cfg: in the command-line setting "memory=abc": .*near `abc'/);
    // xl appends a newline after the file: a final comment without one is then valid.
    expect(() => parseXlCfg('name = "a"\n#x', 'f.cfg')).toThrow(ConfigError);
    expect(parseXlCfg('name = "a"\n#x', 'f.cfg', { overrides: ['vcpus=2'] }).toJSON()).toEqual({ name: 'a', vcpus: '2' });
    expect(base.withOverrides(['vcpus=2']).where(3)).toBe('f.cfg: command-line setting "vcpus=2"');
    expect(base.where(1)).toBe('f.cfg:1');
  });
});
