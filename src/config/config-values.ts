import { ConfigError } from '../errors.ts';

/** What reading a value needs from the config service. */
export interface ConfigReader {
  get(key: string): unknown;
}

/**
 * Typed readers for config values, each refusing a value out of range with
 * a message naming the key, the accepted values and what it got.
 */

/** A whole number, at least `min`. */
export function wholeNumber(config: ConfigReader, key: string, min = 0): number {
  const value = config.get(key);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`Expected config \`${key}\` to be a whole number >= ${min}, got \`${String(value)}\``);
  }
  return value;
}

/** A duration given in `unit` (seconds or days) as milliseconds; 0 means none (null). */
export function durationMs(config: ConfigReader, key: string, unit: 'seconds' | 'days' = 'seconds'): number | null {
  const value = config.get(key);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(`Expected config \`${key}\` to be a number of ${unit} >= 0, got \`${String(value)}\``);
  }
  return value === 0 ? null : Math.round(value * (unit === 'days' ? 86_400_000 : 1000));
}

/** One of `choices`, compared case-insensitively; returns the choice as spelled there. */
export function oneOf<T extends string>(config: ConfigReader, key: string, choices: readonly T[]): T {
  const value = String(config.get(key));
  const choice = choices.find((c) => c.toLowerCase() === value.toLowerCase());
  if (choice === undefined) {
    throw new ConfigError(`Expected config \`${key}\` to be one of ${choices.join(', ')}, got \`${value}\``);
  }
  return choice;
}
