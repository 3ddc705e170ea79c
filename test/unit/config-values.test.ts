import { describe, expect, it } from 'vitest';
import { durationMs, oneOf, wholeNumber } from '../../src/config/config-values.ts';
import { ConfigError } from '../../src/errors.ts';

const config = (values: Record<string, unknown>) => ({ get: (key: string) => values[key] });

describe('config value readers', () => {
  it('read whole numbers, durations and choices', () => {
    const c = config({ n: 4, s: 1.5, d: 7, off: 0, mode: 'full' });
    expect(wholeNumber(c, 'n', 1)).toBe(4);
    expect(durationMs(c, 's')).toBe(1500);
    expect(durationMs(c, 'd', 'days')).toBe(7 * 86_400_000);
    expect(durationMs(c, 'off')).toBeNull();
    expect(oneOf(c, 'mode', ['NORMAL', 'FULL'])).toBe('FULL');
  });

  it.each([
    [() => wholeNumber(config({ n: 0 }), 'n', 1), 'Expected config `n` to be a whole number >= 1, got `0`'],
    [() => wholeNumber(config({ n: 2.5 }), 'n'), 'Expected config `n` to be a whole number >= 0, got `2.5`'],
    [() => durationMs(config({ s: -1 }), 's'), 'Expected config `s` to be a number of seconds >= 0, got `-1`'],
    [() => oneOf(config({ m: 'sometimes' }), 'm', ['auto', 'true', 'false']), 'Expected config `m` to be one of auto, true, false, got `sometimes`'],
  ])('refuse a bad value, naming key and accepted values (%#)', (read, message) => {
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(message);
  });
});
