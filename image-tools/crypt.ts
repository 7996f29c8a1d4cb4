// SHA-512 crypt ("$6$", Ulrich Drepper's SHA-crypt specification, as glibc crypt(3) and
// `openssl passwd -6` compute it) with node:crypto, for /etc/shadow root and user passwords.
import { createHash, randomBytes } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `length` bytes of `digest` repeated (the spec's P and S sequences). */
function repeatTo(digest: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 64) digest.copy(out, i, 0, Math.min(64, length - i));
  return out;
}

/** Options of sha512Crypt. */
export interface CryptOptions {
  /** Salt (only ./0-9A-Za-z are written by txl; at most 16 characters are used). Random when absent. */
  readonly salt?: string;
  /** Rounds (1000..999999999); written as "rounds=N$" only when given. */
  readonly rounds?: number;
}

/** A random 16-character salt from the crypt alphabet. */
export function randomSalt(): string {
  return [...randomBytes(SALT_MAX)].map((b) => ITOA64[b & 63]).join('');
}

/** The "$6$[rounds=N$]salt$hash" string of `password`. */
export function sha512Crypt(password: string, options: CryptOptions = {}): string {
  const key = Buffer.from(password, 'utf8');
  const saltText = (options.salt ?? randomSalt()).split('$')[0]!.slice(0, SALT_MAX);
  const salt = Buffer.from(saltText, 'utf8');
  const custom = options.rounds !== undefined;
  const rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Math.floor(options.rounds ?? ROUNDS_DEFAULT)));

  // Digest B = sha512(key salt key); digest A = key salt, B for each byte of the key, then per bit.
  const b = sha512(key, salt, key);
  const a = createHash('sha512').update(key).update(salt);
  let n = key.length;
  for (; n > 64; n -= 64) a.update(b);
  a.update(b.subarray(0, n));
  for (let bits = key.length; bits > 0; bits >>= 1) a.update(bits & 1 ? b : key);
  let c = a.digest();

  // P: sha512 of the key repeated once per key byte, stretched to the key's length; S likewise from the salt.
  const dp = createHash('sha512');
  for (let i = 0; i < key.length; i++) dp.update(key);
  const p = repeatTo(dp.digest(), key.length);
  const ds = createHash('sha512');
  for (let i = 0; i < 16 + c[0]!; i++) ds.update(salt);
  const s = repeatTo(ds.digest(), salt.length);

  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? p : c);
    if (i % 3 !== 0) h.update(s);
    if (i % 7 !== 0) h.update(p);
    h.update(i & 1 ? c : p);
    c = h.digest();
  }

  // The spec's byte permutation: groups (i, i+21, i+42) rotated by i mod 3, then the last byte alone.
  let out = '';
  const emit = (b2: number, b1: number, b0: number, chars: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let k = 0; k < chars; k++) {
      out += ITOA64[w & 63];
      w >>>= 6;
    }
  };
  for (let i = 0; i < 21; i++) {
    const group = [c[i]!, c[i + 21]!, c[i + 42]!];
    const r = i % 3;
    emit(group[r]!, group[(r + 1) % 3]!, group[(r + 2) % 3]!, 4);
  }
  emit(0, 0, c[63]!, 2);
  return `$6$${custom ? `rounds=${rounds}$` : ''}${saltText}$${out}`;
}

/** True for a string shaped like a crypt(3) hash txl accepts in recipes ($6$, $5$, $y$, $1$...), or a locked "!"/"*". */
export function looksLikeCryptHash(text: string): boolean {
  return /^\$(1|5|6|y|gy|2[aby])\$[^\s:]+$/.test(text) || text === '!' || text === '*';
}
