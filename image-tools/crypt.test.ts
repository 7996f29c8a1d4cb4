import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { looksLikeCryptHash, randomSalt, sha512Crypt } from './crypt.js';

describe('sha512Crypt', () => {
  it('matches the test vectors of the SHA-crypt specification', () => {
    expect(sha512Crypt('Hello world!', { salt: 'saltstring' })).toBe(
      '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    );
    expect(sha512Crypt('Hello world!', { salt: 'saltstringsaltstring', rounds: 10000 })).toBe(
      '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
    );
  });

  it('agrees with openssl passwd -6 on varied passwords and salts', () => {
    const cases: [string, string][] = [
      ['txl', 'abcdefgh'],
      ['a'.repeat(64), 'ABCDEFGHIJKLMNOP'],
      ['b'.repeat(65), '0123456789./aZ'],
      ['p'.repeat(200) + 'ü€', randomSalt()],
      ['correct horse battery staple', randomSalt()],
    ];
    for (const [password, salt] of cases) {
      const r = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n`, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(sha512Crypt(password, { salt })).toBe(r.stdout.trim());
    }
  });

  it('hashes the empty password like glibc crypt (openssl refuses empty input; python3 uses crypt(3))', () => {
    const r = spawnSync('python3', ['-W', 'ignore', '-c', "import crypt; print(crypt.crypt('', '$6$x$'))"], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(sha512Crypt('', { salt: 'x' })).toBe(r.stdout.trim());
  });

  it('makes a fresh 16-character salt each time', () => {
    const a = sha512Crypt('x');
    const b = sha512Crypt('x');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(looksLikeCryptHash(a)).toBe(true);
    expect(looksLikeCryptHash('hunter2')).toBe(false);
  });
});
