import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

/**
 * Reads a config file: one JSON object whose keys are full config keys, e.g.
 * `{ "worker.dbpath": "/var/lib/app/jobs.db", "worker.concurrency": 4 }`.
 * Keys are not nested (`{ "worker": { "dbpath": … } }` is the unknown key
 * `worker`), because an object is also a legitimate value for a key.
 *
 * @param path The file, named as given in every message.
 * @param options.required `false` for the default file, which may be absent
 *   (the result is then `{}`); `true` for a file the user named explicitly.
 * @throws ConfigError if the file is required but missing, unreadable, not
 *   JSON, or not a JSON object.
 */
export function readConfigFile(path: string, options: { required: boolean }): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isMissingFile(error)) {
      if (!options.required) return {};
      throw new ConfigError(`config file ${path} does not exist`);
    }
    throw new ConfigError(`cannot read config file ${path}: ${messageOf(error)}`);
  }
  let value: unknown;
  try {
    // Some editors on Windows save a byte-order mark, which JSON.parse refuses.
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${messageOf(error)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new ConfigError(`config file ${path} must hold a JSON object of "key": value pairs, got ${got}`);
  }
  return value as Record<string, unknown>;
}

function isMissingFile(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
