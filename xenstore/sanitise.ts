// Value escaping of the xenstore-* tools: sanitise_value / unsanitise_value (tools/xenstore/xs_lib.c, Xen 4.17).

/** Escapes a value for printing: printable ASCII except '\' as is; \t \n \r \\; \ooo below 010; \xNN otherwise. */
export function sanitiseValue(value: Uint8Array): string {
  let out = '';
  for (const c of value) {
    if (c >= 0x20 && c <= 0x7e && c !== 0x5c) {
      out += String.fromCharCode(c);
      continue;
    }
    switch (c) {
      case 0x09: out += '\\t'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x5c: out += '\\\\'; break;
      default:
        out += c < 0o10 ? `\\${c.toString(8).padStart(3, '0')}` : `\\x${c.toString(16).padStart(2, '0')}`;
    }
  }
  return out;
}

/**
 * Undoes the escaping for `xenstore-write` (without -R): \t \n \r \\, \xNN (up to two hex digits),
 * \ooo (up to three octal digits, truncated to a byte), any other escaped character stands for itself;
 * a trailing lone backslash yields a NUL byte (as the C loop does).
 */
export function unsanitiseValue(input: Uint8Array): Buffer {
  const out: number[] = [];
  let i = 0;
  while (i < input.length) {
    let c = input[i++]!;
    if (c === 0) break;
    if (c === 0x5c) {
      c = i < input.length ? input[i++]! : 0;
      switch (c) {
        case 0x74: c = 0x09; break; // t
        case 0x6e: c = 0x0a; break; // n
        case 0x72: c = 0x0d; break; // r
        case 0x5c: break;
        case 0x78: { // x: sscanf("%2x") after optional white space
          let j = i;
          while (j < input.length && isSpace(input[j]!)) j++;
          let digits = '';
          while (digits.length < 2 && j < input.length && /[0-9a-fA-F]/.test(String.fromCharCode(input[j]!))) digits += String.fromCharCode(input[j++]!);
          if (digits) {
            c = parseInt(digits, 16);
            i = j;
          }
          break;
        }
        case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35: case 0x36: case 0x37: {
          let j = i - 1;
          let digits = '';
          while (digits.length < 3 && j < input.length && input[j]! >= 0x30 && input[j]! <= 0x37) digits += String.fromCharCode(input[j++]!);
          c = parseInt(digits, 8) & 0xff;
          i = j;
          break;
        }
        case 0:
          // "\\" at the end: the C loop stores a NUL and then stops at the terminator.
          out.push(0);
          return Buffer.from(out);
        default:
          break;
      }
    }
    out.push(c);
  }
  return Buffer.from(out);
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
