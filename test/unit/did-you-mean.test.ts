import { describe, expect, it } from 'vitest';
import { closestName, didYouMean } from '../../src/text/did-you-mean.ts';

const OPTIONS = ['maxAttempts', 'timeout', 'priority', 'key', 'tags'];

describe('closestName', () => {
  it.each([
    ['maxAttempt', 'maxAttempts'],
    ['max_attempts', 'maxAttempts'],
    ['MAXATTEMPTS', 'maxAttempts'],
    ['attempts', 'maxAttempts'],
    ['timout', 'timeout'],
    ['prioirty', 'priority'],
    ['tag', 'tags'],
    ['kye', 'key'],
  ])('matches %s to %s', (name, expected) => {
    expect(closestName(name, OPTIONS)).toBe(expected);
  });

  it.each(['after', 'debounce', 'retries', 'x', '', 'tim'])('suggests nothing for %j, which is no near miss', (name) => {
    expect(closestName(name, OPTIONS)).toBeUndefined();
  });

  it('matches manifest fields across case and separators', () => {
    expect(closestName('loads_after', ['name', 'loads-after', 'requires'])).toBe('loads-after');
    expect(closestName('Loads-After', ['name', 'loads-after', 'requires'])).toBe('loads-after');
    expect(closestName('homepage', ['name', 'loads-after', 'requires'])).toBeUndefined();
  });
});

describe('didYouMean', () => {
  it('is a parenthesised hint, or nothing', () => {
    expect(didYouMean('timout', OPTIONS)).toBe(' (did you mean "timeout"?)');
    expect(didYouMean('after', OPTIONS)).toBe('');
  });
});
