import { describe, expect, it } from 'vitest';
import { render } from './render.js';

describe('render', () => {
  it('fills values, keeps or drops sections, repeats lists', () => {
    const t = 'iface {{iface}} inet {{#dhcp}}dhcp{{/dhcp}}{{^dhcp}}static{{/dhcp}}\n{{#ns}}nameserver {{.}}\n{{/ns}}end\n';
    expect(render(t, { iface: 'enX0', dhcp: true, ns: [] })).toBe('iface enX0 inet dhcp\nend\n');
    expect(render(t, { iface: 'eth0', dhcp: false, ns: ['192.0.2.1', '192.0.2.2'] })).toBe('iface eth0 inet static\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nend\n');
  });
  it('drops the newline after a block tag on its own line', () => {
    expect(render('a\n{{#x}}\nb\n{{/x}}\nc\n', { x: true })).toBe('a\nb\nc\n');
    expect(render('a\n{{#x}}\nb\n{{/x}}\nc\n', { x: false })).toBe('a\nc\n');
  });
  it('names the template and the key when a placeholder is unknown', () => {
    expect(() => render('{{nope}}', {}, 'files/hosts')).toThrow('files/hosts: unknown placeholder {{nope}}');
  });
});
