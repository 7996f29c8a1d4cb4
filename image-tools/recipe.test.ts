import { describe, expect, it } from 'vitest';
import { isImageError } from './errors.js';
import { parseRecipeText, resolveRecipe } from './recipe.js';

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isImageError(error)) return error.message;
    throw error;
  }
  throw new Error('expected an error');
}

const MINIMAL = 'distribution: debian\nsuite: bookworm\n';

describe('parseRecipeText', () => {
  it('reads a recipe into plain data', () => {
    const raw = parseRecipeText(`${MINIMAL}size: 4G\nnetwork:\n  dhcp: false\n  address: 192.0.2.10/24\npackages: [vim, curl]\n`, 'r.yaml');
    expect(raw).toEqual({ distribution: 'debian', suite: 'bookworm', size: '4G', network: { dhcp: false, address: '192.0.2.10/24' }, packages: ['vim', 'curl'] });
  });

  it('names the file, line and key of an unknown key with the nearest known one', () => {
    const msg = problemsOf(() => parseRecipeText(`${MINIMAL}hostnmae: web1\nnetwork:\n  dhpc: true\n`, 'web1.yaml'));
    expect(msg).toContain("web1.yaml:3: hostnmae: unknown key (did you mean 'hostname'?)");
    expect(msg).toContain("web1.yaml:5: network.dhpc: unknown key (did you mean 'dhcp'?)");
    expect(msg).toMatch(/^2 problems in web1.yaml/);
  });

  it('reports wrong types and enum values with their lines', () => {
    const msg = problemsOf(() => parseRecipeText('distribution: debain\nsuite: bookworm\npartitioned: yes-please\npackages: vim\nfilesystem: xfs\n', 'r.yaml'));
    expect(msg).toContain("r.yaml:1: distribution: 'debain' is not one of debian, ubuntu (did you mean 'debian'?)");
    expect(msg).toContain("r.yaml:3: partitioned: must be true or false, not 'yes-please'");
    expect(msg).toContain('r.yaml:4: packages: must be a list');
    expect(msg).toContain("r.yaml:5: filesystem: 'xfs' is not one of ext4, ext3, ext2");
  });

  it('reports invalid YAML with its line', () => {
    const msg = problemsOf(() => parseRecipeText('distribution: debian\nsuite: [bookworm\nsize: 4G\n', 'bad.yaml'));
    expect(msg).toMatch(/bad\.yaml:\d+: .*invalid YAML/);
    expect(problemsOf(() => parseRecipeText('', 'empty.yaml'))).toContain('empty.yaml: (top): the file is empty');
    expect(problemsOf(() => parseRecipeText('a\n', 'scalar.yaml'))).toContain('scalar.yaml:1: (top): must be a mapping');
    expect(problemsOf(() => parseRecipeText(`${MINIMAL}suite: trixie\n`, 'dup.yaml'))).toContain('dup.yaml:3: suite: appears twice');
  });
});

describe('resolveRecipe', () => {
  it('applies defaults', () => {
    const { recipe, warnings } = resolveRecipe(parseRecipeText(`${MINIMAL}name: web1\nroot:\n  passwordHash: "$6$abc$def"\n`, 'r.yaml'), { file: 'r.yaml' });
    expect(recipe).toMatchObject({
      name: 'web1',
      hostname: 'web1',
      mirror: 'http://deb.debian.org/debian',
      components: ['main'],
      variant: 'minbase',
      kernel: { package: 'linux-image-cloud-amd64', cmdline: '' },
      init: 'systemd',
      sizeBytes: 4 * 1024 ** 3,
      filesystem: 'ext4',
      partitioned: false,
      network: { renderer: 'ifupdown', interface: 'enX0', dhcp: true },
      locale: 'C.UTF-8',
      timezone: 'Etc/UTC',
      domain: { memoryMiB: 512, vcpus: 1, bridge: 'xenbr0' },
    });
    expect(warnings).toEqual([]);
  });

  it('hashes a clear-text password with SHA-512 crypt and warns', () => {
    const { recipe, warnings } = resolveRecipe(parseRecipeText(`${MINIMAL}root:\n  password: Hello world!\n`, 'r.yaml'), { file: 'r.yaml', salt: 'saltstring' });
    expect(recipe.root.passwordHash).toBe('$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
    expect(warnings.join('\n')).toContain('root.password is clear text');
  });

  it('checks values: suite, size, host name, addresses, keys, users', () => {
    const text = [
      'distribution: debian',
      'suite: bookwrom',
      'size: 4Q',
      'hostname: -bad-',
      'network:',
      '  dhcp: false',
      '  address: 300.1.2.3',
      '  gateway: nope',
      'root:',
      '  password: a',
      '  passwordHash: b',
      '  sshKeys: ["not a key"]',
      'users:',
      '  - name: Bad User',
      '    passwordHash: plain',
      'packages: ["Bad Pkg"]',
      '',
    ].join('\n');
    const msg = problemsOf(() => resolveRecipe(parseRecipeText(text, 'r.yaml'), { file: 'r.yaml' }));
    expect(msg).toContain("suite: 'bookwrom' is not a debian suite txl knows (did you mean 'bookworm'?)");
    expect(msg).toContain("size: unknown unit 'Q'");
    expect(msg).toContain("hostname: '-bad-' is not a valid host name");
    expect(msg).toContain("network.address: '300.1.2.3' is not an IPv4 address with a prefix length");
    expect(msg).toContain("network.gateway: 'nope' is not an IPv4 address");
    expect(msg).toContain('root.password: give either password or passwordHash, not both');
    expect(msg).toContain('root.sshKeys[0]: does not look like an OpenSSH public key');
    expect(msg).toContain("users[0].name: 'Bad User' is not a valid login name");
    expect(msg).toContain('users[0].passwordHash: is not a crypt(3) hash');
    expect(msg).toContain("packages[0]: 'Bad Pkg' is not a Debian package name");
  });

  it('requires an address for a static network and rejects unknown distributions in suites', () => {
    expect(problemsOf(() => resolveRecipe({ distribution: 'debian', suite: 'bookworm', network: { dhcp: false } }, { file: 'r.yaml' }))).toContain(
      'network.address: is required when network.dhcp is false',
    );
    expect(problemsOf(() => resolveRecipe({ distribution: 'ubuntu', suite: 'bookworm' }, { file: 'r.yaml' }))).toContain("'bookworm' is not a ubuntu suite");
    expect(problemsOf(() => resolveRecipe({}, { file: 'r.yaml' }))).toContain('distribution: is required');
    expect(problemsOf(() => resolveRecipe({ distribution: 'debian', suite: 'bookworm', size: '1M' }, { file: 'r.yaml' }))).toContain('size: 1 MiB is too small; at least 16 MiB');
  });

  it('picks netplan for systemd Ubuntu and Ubuntu components and kernel', () => {
    const { recipe } = resolveRecipe({ distribution: 'ubuntu', suite: 'noble', root: { passwordHash: '!' } }, { file: 'r.yaml' });
    expect(recipe.network.renderer).toBe('netplan');
    expect(recipe.components).toEqual(['main', 'universe']);
    expect(recipe.kernel.package).toBe('linux-image-virtual');
    expect(recipe.mirror).toBe('http://archive.ubuntu.com/ubuntu');
    const lucid = resolveRecipe({ distribution: 'ubuntu', suite: 'lucid', init: 'upstart' }, { file: 'r.yaml' }).recipe;
    expect(lucid.mirror).toBe('http://old-releases.ubuntu.com/ubuntu');
    expect(lucid.network.renderer).toBe('ifupdown');
  });
});
