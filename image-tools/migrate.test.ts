import { describe, expect, it } from 'vitest';
import { migrateToDebian, newRecipeText, recipeFromXlGuest } from './migrate.js';
import { parseRecipeText, resolveRecipe } from './recipe.js';
import { loadMergedRecipe } from './templates.js';

describe('migrateToDebian', () => {
  it('turns the lucid template into a bookworm recipe with the same host, network and disk layout', () => {
    const lucid = loadMergedRecipe('ubuntu-lucid').raw;
    const { raw, notes } = migrateToDebian({ ...lucid, hostname: 'old-web', network: { ...(lucid.network as object), dhcp: false, address: '10.0.0.5/24', gateway: '10.0.0.1' } });
    expect(raw).toMatchObject({ template: 'debian-bookworm', hostname: 'old-web', size: '1G', filesystem: 'ext3', partitioned: false });
    expect(raw.network).toEqual({ dhcp: false, address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 'enX0' });
    expect(raw.init).toBeUndefined(); // systemd from the Debian template
    const keys = notes.map((n) => `${n.key}: ${n.from} -> ${n.to}`);
    expect(keys).toContain('kernel.package: linux-image-virtual -> linux-image-cloud-amd64');
    expect(keys).toContain('init: upstart -> systemd');
    expect(keys).toContain('network.interface: eth0 -> enX0');
    expect(keys).toContain('network.renderer: ifupdown -> ifupdown');
    // The result is a valid recipe once merged over its template.
    const text = newRecipeText(raw, ['test'], notes);
    const merged = { ...loadMergedRecipe('debian-bookworm').raw, ...parseRecipeText(text, 'new.yaml') };
    const { recipe } = resolveRecipe(merged, { file: 'new.yaml' });
    expect(recipe).toMatchObject({ distribution: 'debian', suite: 'bookworm', init: 'systemd', hostname: 'old-web', network: { interface: 'enX0', address: '10.0.0.5/24' } });
  });

  it('maps noble to trixie (networkd) and refuses non-Ubuntu input', () => {
    const { raw, notes } = migrateToDebian(loadMergedRecipe('ubuntu-noble').raw);
    expect(raw.template).toBe('debian-trixie');
    expect(notes.find((n) => n.key === 'network.renderer')?.to).toBe('networkd');
    expect(() => migrateToDebian(loadMergedRecipe('debian-bookworm').raw)).toThrow(/only Ubuntu recipes/);
  });
});

describe('recipeFromXlGuest', () => {
  it('keeps the name, memory, vcpus, disk size, partition layout and static address of a cfg guest', () => {
    const { raw, notes } = recipeFromXlGuest(
      { name: 'ubuntu', memoryMiB: 64, vcpus: 2, cmdline: 'root=/dev/xvda2 ro', disk: { vdev: 'xvda', sizeBytes: 1024 ** 3 }, vif: { bridge: 'eth0', ip: '192.0.2.7' } },
      'lucid',
    );
    expect(raw).toEqual({
      distribution: 'ubuntu',
      suite: 'lucid',
      name: 'ubuntu',
      hostname: 'ubuntu',
      domain: { memory: 64, vcpus: 2, bridge: 'eth0' },
      partitioned: true,
      size: '1024M',
      network: { dhcp: false, address: '192.0.2.7/24' },
    });
    expect(notes.map((n) => n.key)).toEqual(['partitioned', 'size', 'network.address']);
  });
});
