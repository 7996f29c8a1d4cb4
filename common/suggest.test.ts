import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, nearest } from './suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('', '')).toBe(0);
    expect(editDistance('memory', 'memory')).toBe(0);
    expect(editDistance('memroy', 'memory')).toBe(1); // one swap of adjacent letters
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(editDistance('abc', 'ca')).toBe(3); // optimal string alignment: no edits inside a swapped pair
    expect(editDistance('vcpu', 'vcpus')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('nearest', () => {
  it('finds a close key and refuses a far one', () => {
    expect(nearest('memroy', ['memory', 'maxmem', 'name'])).toBe('memory');
    expect(nearest('vcpu', ['vcpus', 'maxvcpus'])).toBe('vcpus');
    expect(nearest('zzzzzz', ['memory', 'name'])).toBeUndefined();
    expect(didYouMean('kernal', ['kernel'])).toBe(" (did you mean 'kernel'?)");
    expect(didYouMean('qqq', ['kernel'])).toBe('');
    expect(nearest('naem', ['name', 'memory'])).toBe('name');
    expect(nearest('dhpc', ['dhcp', 'static'])).toBe('dhcp');
  });
});
