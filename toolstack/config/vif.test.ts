// Unit tests of vif specs (xl's parse_nic_config) and rates (xlu_vif_parse_rate; compared with libxlutil in tests/integration).
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { parseVifRate, parseVifSpec } from './vif.js';

describe('parseVifSpec', () => {
  it("applies libxl's defaults and reads every key", () => {
    expect(parseVifSpec('', 3).vif).toMatchObject({ devid: 3, bridge: 'xenbr0', script: 'vif-bridge', type: 'vif', mtu: 1500, mac: undefined });
    const { vif, warnings } = parseVifSpec('mac=00:16:3E:74:3d:76,model=rtl8139, bridge=xenbr1,ip=10.0.0.2,vifname=web,type=ioemu,mtu=9000,devid=7,trusted,netdev=eth1');
    expect(vif).toMatchObject({ mac: '00:16:3e:74:3d:76', model: 'rtl8139', bridge: 'xenbr1', ip: '10.0.0.2', vifname: 'web', type: 'ioemu', mtu: 9000, devid: 7, trusted: true, gatewaydev: 'eth1' });
    expect(warnings).toEqual(['vif[0]: the netdev parameter is deprecated, please use gatewaydev instead']);
  });

  it('warns about unknown tokens and refuses bad values', () => {
    expect(parseVifSpec('bridge=b,colour=red,,').warnings).toEqual(["vif[0]: unrecognized argument `colour=red' (ignored, as xl does)"]);
    expect(() => parseVifSpec('mac=00:11:22')).toThrow(/fewer than six bytes/);
    expect(() => parseVifSpec('mac=00:11:22:33:44:100')).toThrow(ConfigError);
    expect(() => parseVifSpec('type=tap')).toThrow(/accepted are vif and ioemu/);
    expect(() => parseVifSpec('mtu=big')).toThrow(/mtu=big is not a number/);
  });
});

describe('parseVifRate', () => {
  it('reads the documented examples', () => {
    expect(parseVifRate('10Mb/s')).toEqual({ bytesPerInterval: 62500n, intervalUsecs: 50000 });
    expect(parseVifRate('250KB/s')).toEqual({ bytesPerInterval: 12500n, intervalUsecs: 50000 });
    expect(parseVifRate('1MB/s@20ms')).toEqual({ bytesPerInterval: 20000n, intervalUsecs: 20000 });
    expect(parseVifRate('1MB/s@2')).toEqual({ bytesPerInterval: 2000000n, intervalUsecs: 2000000 });
  });
  it('refuses what libxlutil refuses', () => {
    expect(() => parseVifRate('')).toThrow(/no rate specified/);
    expect(() => parseVifRate('10 Mb/s')).toThrow(/invalid rate/);
    expect(() => parseVifRate('09Mb/s')).toThrow(/rate overflow/);
    expect(() => parseVifRate('1Mb/s@5000s')).toThrow(/replenishment interval overflow/);
  });
});
