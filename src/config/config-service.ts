import { ConfigError } from '../errors.ts';

export { readConfigFile } from './config-file.ts';

/** A config value: anything JSON can hold (numbers finite). */
export type ConfigValue = string | number | boolean | null | readonly ConfigValue[] | { readonly [key: string]: ConfigValue };

/**
 * Where a key's current value came from, lowest precedence first:
 * `default` (installed by a plugin or the host), `file` (the config file),
 * `env` (environment variable), `set` (`--set key=value` on the command line),
 * `runtime` ({@link ConfigService.set}).
 */
export type ConfigSource = 'default' | 'file' | 'env' | 'set' | 'runtime';

/** One installed key, as {@link ConfigService.list} reports it. */
export interface ConfigEntry {
  readonly key: string;
  readonly value: ConfigValue;
  readonly default: ConfigValue;
  readonly description: string;
  readonly source: ConfigSource;
}

/** Options of {@link ConfigService}: every source except the defaults, which plugins install. */
export interface ConfigServiceOptions {
  /** The parsed config file (see `readConfigFile`) and its path, which messages name. */
  readonly file?: { readonly path: string; readonly values: Readonly<Record<string, unknown>> };
  /** Environment variables; none by default, so the host passes `process.env` explicitly. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `--set key=value` flags, split by {@link parseSetFlag}. */
  readonly overrides?: Readonly<Record<string, string>>;
}

/** The JSON type of a default, which every other source must match. */
type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null';

interface Setting {
  readonly default: ConfigValue;
  readonly description: string;
  readonly kind: Kind;
  value: ConfigValue;
  source: ConfigSource;
}

// Words joined by "." or "-": keeps `--set key=value` and environment names unambiguous.
const KEY_PATTERN = /^[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*$/;

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false, yes: true, no: false };

/**
 * Configuration in the style of AMsoil's config service: each plugin
 * {@link install}s the keys it owns with a default and a description, and
 * reads them with {@link get}.
 *
 * A key's value comes from, in rising precedence: its default, the config
 * file, the environment variable {@link envVarName}(key), `--set key=value`,
 * and {@link set}. File and `--set` values may name keys installed later (by
 * plugins during setup), so they are held until the key is installed; the
 * host calls {@link assertNoUnknownKeys} once every plugin is set up.
 *
 * Values are frozen copies: a caller cannot change config by mutating what
 * {@link get} returned.
 */
export class ConfigService {
  readonly #settings = new Map<string, Setting>();
  /** Environment variable name → the key reading it, to refuse two keys sharing one. */
  readonly #envNames = new Map<string, string>();
  readonly #file: { readonly path: string; readonly values: Readonly<Record<string, unknown>> } | undefined;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #overrides: Readonly<Record<string, string>>;

  constructor(options: ConfigServiceOptions = {}) {
    this.#file = options.file;
    this.#env = options.env ?? {};
    this.#overrides = options.overrides ?? {};
  }

  /**
   * Declares a key, its default and what it is for, then applies any value the
   * file, the environment or `--set` holds for it.
   *
   * Installing a key twice is an error, not a no-op: each key has one owner,
   * and two plugins silently sharing a key (with maybe different defaults)
   * is a bug worth stopping for.
   *
   * @param key Words of letters, digits and `_` joined by `.` or `-`, e.g. `worker.dbpath`.
   * @param defaultValue Any JSON value; its type is the type every source must give.
   *   A `null` default accepts any JSON value.
   * @throws ConfigError for a bad key or default, a key installed already, or a
   *   file, environment or `--set` value of the wrong type.
   */
  install(key: string, defaultValue: ConfigValue, description: string): void {
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new ConfigError(`config key ${JSON.stringify(key)} is not valid: expected words of letters, digits and "_" joined by "." or "-", e.g. "worker.dbpath"`);
    }
    if (typeof description !== 'string') {
      throw new ConfigError(`config key "${key}" needs a description string, got ${describe(description)}`);
    }
    const existing = this.#settings.get(key);
    if (existing !== undefined) {
      throw new ConfigError(`config key "${key}" is installed already (${JSON.stringify(existing.description)}): each key is installed once, by the plugin that owns it`);
    }
    if (!isConfigValue(defaultValue)) {
      throw new ConfigError(`default of config key "${key}" must be a string, finite number, boolean, null, array or plain object, got ${describe(defaultValue)}`);
    }
    const envName = envVarName(key);
    const sharing = this.#envNames.get(envName);
    if (sharing !== undefined) {
      throw new ConfigError(`config keys "${sharing}" and "${key}" would both read environment variable ${envName}: rename one`);
    }

    const kind = kindOf(defaultValue);
    let value = defaultValue;
    let source: ConfigSource = 'default';
    // Every source present is checked, even one a higher source overrides: a bad value is a mistake either way.
    if (this.#file !== undefined && Object.hasOwn(this.#file.values, key)) {
      value = checkType(key, kind, this.#file.values[key], `in ${this.#file.path}`);
      source = 'file';
    }
    const envText = this.#env[envName];
    if (envText !== undefined) {
      value = coerce(key, kind, envText, `from environment variable ${envName}`);
      source = 'env';
    }
    if (Object.hasOwn(this.#overrides, key)) {
      value = coerce(key, kind, this.#overrides[key]!, 'from --set');
      source = 'set';
    }
    this.#envNames.set(envName, key);
    this.#settings.set(key, { default: frozenCopy(defaultValue), description, kind, value: frozenCopy(value), source });
  }

  /**
   * The current value of an installed key.
   * @throws ConfigError if no one installed `key`.
   */
  get(key: string): ConfigValue {
    return this.#setting(key, 'read').value;
  }

  /**
   * Changes an installed key for the rest of this process (source `runtime`).
   * @param value Must have the type of the key's default, like a file value.
   * @throws ConfigError for an unknown key or a value of the wrong type.
   */
  set(key: string, value: ConfigValue): void {
    const setting = this.#setting(key, 'set');
    setting.value = frozenCopy(checkType(key, setting.kind, value, 'in set()'));
    setting.source = 'runtime';
  }

  /** Every installed key with its value, default, description and source, sorted by key. */
  list(): ConfigEntry[] {
    return [...this.#settings.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, setting]) => ({ key, value: setting.value, default: setting.default, description: setting.description, source: setting.source }));
  }

  /** Same as {@link list}; AMsoil's name for it. */
  getAll(): ConfigEntry[] {
    return this.list();
  }

  /** Installed keys, sorted. */
  knownKeys(): string[] {
    return this.list().map((entry) => entry.key);
  }

  /**
   * Refuses file and `--set` keys that nothing installed, which are almost
   * always typos that would otherwise be silently ignored. Call it once every
   * plugin is set up. (Environment variables are only ever looked up, never
   * listed, so they cannot be unknown.)
   * @throws ConfigError naming the first unknown key and where it came from.
   */
  assertNoUnknownKeys(): void {
    const sources: [Readonly<Record<string, unknown>>, string][] = [[this.#overrides, '--set']];
    if (this.#file !== undefined) sources.unshift([this.#file.values, this.#file.path]);
    for (const [values, where] of sources) {
      const unknown = Object.keys(values).find((key) => !this.#settings.has(key));
      if (unknown !== undefined) throw new ConfigError(`unknown config key "${unknown}" in ${where}${this.#hint(unknown)}`);
    }
  }

  /** Keys the file or `--set` gave that nothing has installed yet, with where each came from. */
  pendingKeys(): { key: string; where: string }[] {
    const pending: { key: string; where: string }[] = [];
    const sources: [Readonly<Record<string, unknown>>, string][] = [[this.#overrides, '--set']];
    if (this.#file !== undefined) sources.unshift([this.#file.values, this.#file.path]);
    for (const [values, where] of sources) {
      for (const key of Object.keys(values)) if (!this.#settings.has(key)) pending.push({ key, where });
    }
    return pending;
  }

  #setting(key: string, action: 'read' | 'set'): Setting {
    const setting = this.#settings.get(key);
    if (setting === undefined) {
      throw new ConfigError(`cannot ${action} config key "${key}": it is not installed (a plugin must install() it first)${this.#hint(key)}`);
    }
    return setting;
  }

  /** A cheap "did you mean": same key in another case, or a nested object where a full key was meant. */
  #hint(key: string): string {
    const keys = [...this.#settings.keys()].sort();
    const sameLetters = keys.find((known) => known.toLowerCase() === key.toLowerCase());
    if (sameLetters !== undefined) return ` (did you mean "${sameLetters}"?)`;
    const nested = keys.find((known) => known.startsWith(`${key}.`));
    if (nested !== undefined) return ` (keys are written in full, e.g. "${nested}")`;
    return '';
  }
}

/**
 * Splits one `--set key=value` flag at the first `=` (the value may hold more).
 * @throws ConfigError naming the flag if there is no `=` or the key is empty.
 */
export function parseSetFlag(text: string): { key: string; value: string } {
  const at = text.indexOf('=');
  if (at === -1) throw new ConfigError(`--set ${JSON.stringify(text)} must have the form key=value`);
  if (at === 0) throw new ConfigError(`--set ${JSON.stringify(text)} has an empty key: expected key=value`);
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

/** The environment variable that overrides `key`: upper case, `.` and `-` as `_` (`worker.dbpath` → `WORKER_DBPATH`). */
export function envVarName(key: string): string {
  return key.toUpperCase().replace(/[.-]/g, '_');
}

/** Turns an environment or `--set` string into a value of the default's kind. */
function coerce(key: string, kind: Kind, text: string, where: string): ConfigValue {
  const fail = (expected: string, detail = ''): ConfigError =>
    new ConfigError(`config key "${key}" ${where} must be ${expected}, got ${JSON.stringify(text)}${detail}`);
  switch (kind) {
    case 'string':
      return text;
    case 'number': {
      // Number('') and Number('  ') are 0, which no one means.
      const number = text.trim() === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(number)) throw fail('a finite number');
      return number;
    }
    case 'boolean': {
      const word = text.trim().toLowerCase();
      if (!Object.hasOwn(BOOLEAN_WORDS, word)) throw fail('true, false, 1, 0, yes or no');
      return BOOLEAN_WORDS[word]!;
    }
    case 'array':
    case 'object':
    case 'null': {
      const expected = kind === 'null' ? 'JSON' : `JSON for ${KIND_NAMES[kind]}`;
      let parsed: ConfigValue;
      try {
        // JSON.parse yields JSON by definition.
        parsed = JSON.parse(text) as ConfigValue;
      } catch (error) {
        throw fail(expected, ` (${error instanceof Error ? error.message : String(error)})`);
      }
      if (kind !== 'null' && kindOf(parsed) !== kind) throw fail(expected, ` (${describe(parsed)})`);
      return parsed;
    }
  }
}

/** Checks that a file or runtime value has the default's kind; a null default takes any JSON value. */
function checkType(key: string, kind: Kind, value: unknown, where: string): ConfigValue {
  const fits = isConfigValue(value) && (kind === 'null' || kindOf(value) === kind);
  if (!fits) {
    const expected = kind === 'null' ? 'a JSON value' : KIND_NAMES[kind];
    throw new ConfigError(`config key "${key}" ${where} must be ${expected}, got ${describe(value)}`);
  }
  return value;
}

const KIND_NAMES: Readonly<Record<Kind, string>> = {
  string: 'a string', number: 'a number', boolean: 'a boolean', array: 'an array', object: 'an object', null: 'null',
};

function kindOf(value: ConfigValue): Kind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' ? type : 'object';
}

/** Whether `value` is plain JSON all the way down (no undefined, NaN, Date, class instance, …). */
function isConfigValue(value: unknown): value is ConfigValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isConfigValue);
  if (typeof value !== 'object') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return (prototype === Object.prototype || prototype === null) && Object.values(value).every(isConfigValue);
}

/** `the string "10"`, `the number 3`, `an array`, `a Date`: what a message says was given. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${String(value)}`;
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return `a ${typeof value}`;
}

function frozenCopy<T extends ConfigValue>(value: T): T {
  return deepFreeze(structuredClone(value));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
