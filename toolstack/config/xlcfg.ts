// The xl.cfg language exactly as Xen 4.17's libxlutil reads it (libxlu_cfg_l.l, libxlu_cfg_y.y, libxlu_cfg.c).
//
// The lexer follows the flex rules byte for byte (the text is handled as latin1, one char per byte),
// the recursive-descent parser accepts the bison grammar and fetches tokens at the same moments the
// LALR parser does, so the first error is the one libxlutil reports first (same line, same token,
// same message; tests/oracle compares them). Settings are kept the way libxlutil keeps them: every
// assignment, `+=` already applied, the newest one of a name being the one xl reads.
import { ConfigError } from './errors.js';

/** A value as libxlutil holds it: an atom (a string; numbers keep their spelling) or a list. */
export type XlCfgValue = string | readonly XlCfgValue[];

/** One assignment of the file, as libxlutil's XLU_ConfigSetting. */
export interface XlCfgSetting {
  readonly name: string;
  /** `=` or `+=` (xlu_cfg_get_long refuses numbers set with `+=`). */
  readonly op: '=' | '+=';
  /** Line of the value's first token. */
  readonly line: number;
  /** With `+=` applied. An older list setting that a `+=` extended holds [] (libxlutil moves its items). */
  readonly value: XlCfgValue;
}

/** A parsed xl.cfg file. */
export interface XlCfg {
  /** The file name used in messages. */
  readonly source: string;
  /** Every assignment, in file order. */
  readonly settings: readonly XlCfgSetting[];
  /** The setting xl reads for a key: the last assignment (undefined when absent). */
  get(name: string): XlCfgSetting | undefined;
  /** The keys that are set, in order of first appearance. */
  keys(): string[];
  /** `{ key: value }` with the last assignment of each key, as `txl config parse` prints it. */
  toJSON(): Record<string, XlCfgValue>;
  /**
   * The config `xl create FILE KEY=VALUE...` reads: the file's text, a newline, each override and a
   * newline, and one more newline, parsed again. Errors in an override name it instead of a line.
   */
  withOverrides(overrides: readonly string[]): XlCfg;
  /** "file:line", or "file: command-line setting \"k=v\"" for a line that came from withOverrides. */
  where(line: number): string;
}

/** Options of parseXlCfg. */
export interface ParseXlCfgOptions {
  /**
   * How quoted strings' bytes become JS strings: 'utf8' (default) decodes them as UTF-8;
   * 'latin1' keeps one char per byte, exactly libxlutil's bytes (for byte-exact comparisons).
   */
  readonly strings?: 'utf8' | 'latin1';
  /** KEY=VALUE statements appended as `xl create FILE KEY=VALUE...` does (see XlCfg.withOverrides). */
  readonly overrides?: readonly string[];
}

type TokenType = 'IDENT' | 'NUMBER' | 'STRING' | 'NEWLINE' | "','" | "'['" | "']'" | "'='" | "';'" | '+=' | '$end';

interface Token {
  readonly type: TokenType;
  /** yytext: the raw matched text. */
  readonly text: string;
  /** IDENT/NUMBER text, STRING dequoted. */
  readonly value: string;
  /** yylloc.first_line as libxlutil sets it (for NEWLINE: the line the newline ends). */
  readonly line: number;
}

const IDENT_RE = /[a-z][._0-9a-z]*/y;
const NUMBER_RE = /[0-9][0-9a-fx]*/y;
const PYTHONISH = new Set(['+', ',', '-', '.', '(', ')', ':']);

class ParseState {
  private pos = 0;
  /** flex's yylineno: incremented for every newline matched. */
  private lineno = 1;
  /** The last token handed to the parser (yytext/yylloc at error time). */
  private last: Token | undefined;
  likelyPython = false;
  /** Text a lexerr at the very end of input left in yytext (shown by an error at end of file). */
  private pendingMore = '';

  constructor(
    private readonly text: string,
    readonly source: string,
  ) {}

  /** libxlutil's report line for an error at `line` near `text` (xlu__cfg_yyerror's formatting). */
  private report(code: 'TXL_CFG_LEXICAL' | 'TXL_CFG_SYNTAX', line: number, rawText: string, message: string, realLine: number, atEnd = false): never {
    let len = rawText.length;
    let reportLine = line;
    let newline = '';
    if (len > 0 && rawText[len - 1] === '\n') {
      len--;
      reportLine--;
      if (len === 0) newline = '<newline>';
    }
    while (len > 0 && (rawText[len - 1] === '\t' || rawText[len - 1] === ' ')) len--;
    // printf("%.*s") stops at a NUL byte (at end of input flex's yytext ends with one).
    const cut = rawText.indexOf('\0');
    const shown = rawText.slice(0, cut >= 0 && cut < len ? cut : len);
    const near = `${len ? '`' : ''}${shown}${len ? "'" : ''}${newline}`;
    const xluReport = `${this.source}:${reportLine}: config parsing error near ${near}: ${message}`;
    // For people: the whole token (libxlutil's report stops at a NUL), control chars escaped.
    const full = rawText.slice(0, atEnd ? Math.max(0, len - 1) : len);
    const token = full ? printable(latin1ToUtf8(full)) : newline ? 'end of line' : 'end of file';
    const userNear = full ? `\`${token}'` : newline || 'end of file';
    throw new ConfigError(code, `${this.source}:${realLine}: config parsing error near ${userNear}: ${message}`, {
      details: { file: this.source, line: realLine, token, xluReport: latin1ToUtf8(xluReport) },
      hint: rawText.startsWith('#') && !rawText.endsWith('\n')
        ? 'a comment on the last line must end with a newline (libxlutil rejects it otherwise)'
        : this.likelyPython
        ? 'this looks like Python; xl.cfg is not Python any more (see https://wiki.xen.org/wiki/PythonInXlConfig)'
        : 'settings are KEY = VALUE with lower-case keys; values are "strings", \'strings\', numbers or [lists]',
    });
  }

  /** xlu__cfgl_lexicalerror: the scanner's current line, the current yytext. */
  lexicalError(rawText: string, message: string, realLine = this.lineno): never {
    return this.report('TXL_CFG_LEXICAL', this.lineno, rawText, message, realLine);
  }

  /** A bison syntax error on token `t` in a state expecting `expecting`. */
  syntaxError(t: Token, expecting: string): never {
    return this.report('TXL_CFG_SYNTAX', t.line, t.text, `syntax error, unexpected ${t.type}, expecting ${expecting}`, t.line, t.type === '$end');
  }

  /** The last token's yytext and the scanner's line, for errors raised while reducing. */
  lastText(): string {
    return this.last?.text ?? '';
  }

  next(): Token {
    const token = this.scan();
    this.last = token;
    return token;
  }

  private token(type: TokenType, start: number, end: number, value = ''): Token {
    this.pos = end;
    return { type, text: this.text.slice(start, end), value, line: this.lineno };
  }

  private scan(): Token {
    const s = this.text;
    const n = s.length;
    for (;;) {
      const i = this.pos;
      // flex's yytext at end of input: text pending from yymore() plus the end-of-buffer NUL.
      if (i >= n) return { type: '$end', text: `${this.pendingMore}\0`, value: '', line: this.last?.line ?? 1 };
      const c = s[i]!;
      if (c === ' ' || c === '\t') {
        this.pos++;
        continue;
      }
      if (c >= 'a' && c <= 'z') {
        IDENT_RE.lastIndex = i;
        const m = IDENT_RE.exec(s)!;
        return this.token('IDENT', i, i + m[0].length, m[0]);
      }
      if (c >= '0' && c <= '9') {
        NUMBER_RE.lastIndex = i;
        const m = NUMBER_RE.exec(s)!;
        return this.token('NUMBER', i, i + m[0].length, m[0]);
      }
      switch (c) {
        case ',': return this.token("','", i, i + 1);
        case '[': return this.token("'['", i, i + 1);
        case ']': return this.token("']'", i, i + 1);
        case '=': return this.token("'='", i, i + 1);
        case ';': return this.token("';'", i, i + 1);
        case '\n':
          this.pos = i + 1;
          this.lineno++;
          return { type: 'NEWLINE', text: '\n', value: '', line: this.lineno - 1 };
        default:
          break;
      }
      if (c === '+' && s[i + 1] === '=') return this.token('+=', i, i + 2);
      if (c === '#') {
        const end = s.indexOf('\n', i);
        if (end >= 0) {
          this.pos = end + 1;
          this.lineno++;
          return { type: 'NEWLINE', text: s.slice(i, end + 1), value: '', line: this.lineno - 1 };
        }
      }
      if (c === '"' || c === "'") {
        const end = stringEnd(s, i);
        if (end >= 0) {
          const raw = s.slice(i, end);
          this.pos = end;
          this.last = { type: 'STRING', text: raw, value: '', line: this.lineno };
          return { type: 'STRING', text: raw, value: this.dequote(raw), line: this.lineno };
        }
      }
      // flex's `.` rule: anything else starts a lexical error that swallows the rest of the word.
      if (PYTHONISH.has(c)) this.likelyPython = true;
      const j = i + 1;
      if (j >= n) {
        // At end of input in the lexerr state flex just stops: the stray text is dropped silently.
        this.pendingMore = c;
        this.pos = n;
        continue;
      }
      if (s[j] === '\n') {
        this.pos = j + 1;
        this.lineno++;
        this.lexicalError(s.slice(i, j + 1), 'lexical error', this.lineno - 1);
      }
      if (s[j] === ' ' || s[j] === '\t') this.lexicalError(s.slice(i, j + 1), 'lexical error');
      let k = j;
      while (k < n && s[k] !== ' ' && s[k] !== '\t' && s[k] !== '\n') k++;
      this.lexicalError(s.slice(i, k), 'lexical error');
    }
  }

  /** xlu__cfgl_dequote. */
  private dequote(raw: string): string {
    if (raw.includes('\0')) {
      // libxlutil measures the token with strlen() and aborts on an assertion: refuse it instead.
      this.lexicalError(raw, 'NUL byte in quoted string (libxlutil aborts on it)');
    }
    const end = raw.length - 1;
    let out = '';
    let p = 1;
    while (p < end) {
      const c = raw[p++]!;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const nc = raw[p++]!;
      const simple = ESCAPES[nc];
      if (simple !== undefined) {
        out += simple;
      } else if (nc === 'x') {
        // libxlutil skips a char and then demands more hex digits than it reads: always an error.
        this.lexicalError(raw, 'invalid digit after backslash hexnumerical character escape in quoted string');
      } else if (nc >= '0' && nc <= '7') {
        // Reads up to 3 more chars with strtoul(,,10), needs 2 of them consumed, and writes nothing.
        const used = strtoulLength(raw.slice(p, p + 3));
        if (used <= 1) this.lexicalError(raw, 'invalid digit after backslash octalnumerical character escape in quoted string');
        p += used;
      } else {
        this.lexicalError(raw, 'invalid character after backlash in quoted string');
      }
    }
    return out;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"', "'": "'", '\\': '\\', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

/** End (exclusive) of a quoted string starting at `i` per `"([^"\\\n]|\\.)*"`, or -1. */
function stringEnd(s: string, i: number): number {
  const quote = s[i];
  let j = i + 1;
  for (;;) {
    if (j >= s.length) return -1;
    const ch = s[j]!;
    if (ch === quote) return j + 1;
    if (ch === '\n') return -1;
    if (ch === '\\') {
      if (j + 1 >= s.length || s[j + 1] === '\n') return -1;
      j += 2;
    } else {
      j++;
    }
  }
}

/** How many chars C strtoul(s, &ep, 10) consumes: spaces, a sign, digits (0 when there are no digits). */
function strtoulLength(s: string): number {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i]!)) i++;
  if (s[i] === '+' || s[i] === '-') i++;
  const digitsFrom = i;
  while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
  return i === digitsFrom ? 0 : i;
}

function latin1ToUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** For messages: control chars as \xNN so binary input cannot garble a terminal. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

interface MutableSetting {
  name: string;
  op: '=' | '+=';
  line: number;
  value: XlCfgValue;
}

class Parser {
  readonly settings: MutableSetting[] = [];
  private readonly latest = new Map<string, MutableSetting>();

  constructor(private readonly st: ParseState) {}

  parseFile(): void {
    const st = this.st;
    for (;;) {
      const t = st.next();
      if (t.type === '$end') return;
      if (t.type === 'NEWLINE' || t.type === "';'") continue;
      if (t.type !== 'IDENT') st.syntaxError(t, "$end or IDENT or NEWLINE or ';'");
      const op = st.next();
      if (op.type !== "'='" && op.type !== '+=') st.syntaxError(op, "+= or '='");
      const first = st.next();
      const value = this.value(first, 'STRING or NUMBER or \'[\'');
      // The assignment is reduced before the next token is read (bison's default reduction).
      this.store(t.value, op.type === '+=' ? '+=' : '=', value, first.line);
      const end = st.next();
      if (end.type === '$end') return;
      if (end.type !== 'NEWLINE' && end.type !== "';'") st.syntaxError(end, '$end');
    }
  }

  private value(t: Token, expecting: string): XlCfgValue {
    if (t.type === 'STRING' || t.type === 'NUMBER') return t.value;
    if (t.type !== "'['") this.st.syntaxError(t, expecting);
    const items: XlCfgValue[] = [];
    let u = this.skipNewlines(this.st.next());
    if (u.type === "']'") return items;
    for (;;) {
      items.push(this.value(u, "']'"));
      u = this.skipNewlines(this.st.next());
      if (u.type === "']'") return items;
      if (u.type !== "','") this.st.syntaxError(u, "']'");
      u = this.skipNewlines(this.st.next());
      if (u.type === "']'") return items;
    }
  }

  private skipNewlines(t: Token): Token {
    while (t.type === 'NEWLINE') t = this.st.next();
    return t;
  }

  /** xlu__cfg_set_store with xlu__cfg_concat_vals. */
  private store(name: string, op: '=' | '+=', value: XlCfgValue, line: number): void {
    let stored = value;
    const prev = this.latest.get(name);
    if (op === '+=' && prev) {
      if (typeof prev.value !== typeof value) this.st.lexicalError(this.st.lastText(), 'can\'t add [list] to "string" or vice versa');
      if (typeof value === 'string') {
        stored = (prev.value as string) + value;
      } else {
        stored = [...(prev.value as readonly XlCfgValue[]), ...value];
        prev.value = [];
      }
    }
    const setting: MutableSetting = { name, op, line, value: stored };
    this.settings.push(setting);
    this.latest.set(name, setting);
  }
}

function mapStrings(value: XlCfgValue, f: (s: string) => string): XlCfgValue {
  return typeof value === 'string' ? f(value) : value.map((v) => mapStrings(v, f));
}

/**
 * Parses xl.cfg text as libxlutil does. `text` may be a string (its UTF-8 bytes are parsed) or the
 * file's bytes. Throws ConfigError (TXL_CFG_LEXICAL / TXL_CFG_SYNTAX) naming `fileName:line` and the
 * token for every input libxlutil rejects; `details.xluReport` is libxlutil's own first report line.
 */
export function parseXlCfg(text: string | Uint8Array, fileName: string, options: ParseXlCfgOptions = {}): XlCfg {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  const latin1 = bytes.toString('latin1');
  return options.overrides?.length ? withOverrides(latin1, fileName, options, options.overrides) : parseLatin1(latin1, fileName, options);
}

interface OverrideLines {
  readonly firstLine: number;
  readonly overrides: readonly string[];
}

function parseLatin1(latin1: string, fileName: string, options: ParseXlCfgOptions, overrideLines?: OverrideLines): XlCfg {
  const st = new ParseState(latin1, fileName);
  const parser = new Parser(st);
  parser.parseFile();
  const decode = options.strings === 'latin1' ? undefined : latin1ToUtf8;
  const settings: XlCfgSetting[] = parser.settings.map((s) =>
    Object.freeze({ name: s.name, op: s.op, line: s.line, value: deepFreeze(decode ? mapStrings(s.value, decode) : s.value) }),
  );
  const where = (line: number): string => {
    const override = overrideLines?.overrides[line - overrideLines.firstLine];
    return override === undefined ? `${fileName}:${line}` : `${fileName}: command-line setting ${JSON.stringify(override)}`;
  };
  return makeXlCfg(fileName, settings, (overrides) => withOverrides(latin1, fileName, options, overrides), where);
}

function withOverrides(latin1: string, fileName: string, options: ParseXlCfgOptions, overrides: readonly string[]): XlCfg {
  const extra = overrides.map((o) => Buffer.from(`${o}\n`, 'utf8').toString('latin1')).join('');
  const firstOverrideLine = latin1.split('\n').length + 1;
  try {
    return parseLatin1(`${latin1}\n${extra}\n`, fileName, options, { firstLine: firstOverrideLine, overrides });
  } catch (error) {
    const line = error instanceof ConfigError ? Number(error.details.line) : NaN;
    const override = overrides[line - firstOverrideLine];
    if (!(error instanceof ConfigError) || override === undefined) throw error;
    const message = error.message.replace(`${fileName}:${line}:`, `${fileName}: in the command-line setting ${JSON.stringify(override)}:`);
    throw new ConfigError(error.code, message, {
      details: { ...error.details, override },
      hint: 'command-line settings are xl.cfg statements: KEY=NUMBER, KEY="string" (quote it from the shell: \'name="web1"\') or KEY=[...]',
    });
  }
}

function deepFreeze(value: XlCfgValue): XlCfgValue {
  if (typeof value !== 'string') {
    for (const v of value) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function makeXlCfg(source: string, settings: readonly XlCfgSetting[], reparse: (overrides: readonly string[]) => XlCfg, where: (line: number) => string): XlCfg {
  const latest = new Map<string, XlCfgSetting>();
  for (const s of settings) latest.set(s.name, s);
  const order = [...new Set(settings.map((s) => s.name))];
  return Object.freeze({
    source,
    settings: Object.freeze([...settings]),
    get: (name: string) => latest.get(name),
    keys: () => [...order],
    toJSON: () => Object.fromEntries(order.map((k) => [k, latest.get(k)!.value])),
    withOverrides: reparse,
    where,
  });
}
