import { ConfigError, type ConfigService } from '../../src/index.ts';

/** What a signed-in person may do: look (viewer), or also change jobs (operator). */
export type Role = 'viewer' | 'operator';

/** A bearer token from `web.tokens`, for scripts and scrapers. */
export interface TokenEntry {
  readonly name: string;
  readonly token: string;
  readonly role: Role;
}

/** A person from `web.users`, signing in with HTTP basic auth in the browser. */
export interface UserEntry {
  readonly name: string;
  readonly password: string;
  readonly role: Role;
}

/** The web plugin's settings, read and checked once at start. */
export interface WebConfig {
  /** 0: the plugin serves nothing. */
  readonly port: number;
  readonly host: string;
  readonly tokens: readonly TokenEntry[];
  readonly users: readonly UserEntry[];
  /** How often the one shared poller reads the database while someone watches. */
  readonly refreshMs: number;
  /** Largest batch of a bulk action: one store call per job, this many before yielding to others. */
  readonly bulkBatch: number;
  /** Most jobs one "all matching" bulk action touches. */
  readonly bulkMax: number;
  /** Worker concurrency, to tell idle slots from busy ones in /metrics. */
  readonly workerConcurrency: number;
}

/** The keys this plugin installs, with their defaults (README lists them). */
export const WEB_KEYS = [
  { key: 'web.port', default: 7300, description: 'Port of the dashboard, the JSON API (/api/) and /metrics; 0 turns the web plugin off.' },
  { key: 'web.host', default: '127.0.0.1', description: 'Address to listen on. Any address other than loopback requires web.tokens or web.users.' },
  { key: 'web.tokens', default: [], description: 'Bearer tokens for scripts and scrapers: [{"name": "ci", "token": "…", "role": "viewer" | "operator"}]. Sent as "Authorization: Bearer …", never in a URL.' },
  { key: 'web.users', default: [], description: 'People signing in with HTTP basic auth: [{"name": "ada", "password": "…", "role": "viewer" | "operator"}].' },
  { key: 'web.refreshSeconds', default: 2, description: 'How often the shared poller reads the database for live pages and metrics (at most once per interval, however many tabs or scrapes).' },
  { key: 'web.bulkBatch', default: 200, description: 'Jobs per batch of a bulk action; other work runs between batches.' },
  { key: 'web.bulkMax', default: 100000, description: 'Most jobs one bulk action on "all matching this filter" touches.' },
] as const;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Whether `host` is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Reads and checks the web keys.
 * @throws ConfigError naming the key and what to set: a bad value, or an
 *   address other machines can reach without any credentials configured.
 */
export function readWebConfig(config: ConfigService): WebConfig {
  const port = config.get('web.port');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`Expected config \`web.port\` to be a port number 0-65535 (0 turns the dashboard off), got \`${String(port)}\``);
  }
  const host = String(config.get('web.host'));
  const tokens = entries(config.get('web.tokens'), 'web.tokens', 'token');
  const users = entries(config.get('web.users'), 'web.users', 'password');
  if (port !== 0 && !isLoopback(host) && tokens.length === 0 && users.length === 0) {
    throw new ConfigError(
      `web.host is ${host}, which other machines can reach, and no credentials are configured: set web.users ` +
      `([{"name": "…", "password": "…", "role": "operator"}]) or web.tokens ([{"name": "…", "token": "…", "role": "viewer"}]) ` +
      'in deploy/config.json, or keep web.host=127.0.0.1',
    );
  }
  const refresh = config.get('web.refreshSeconds');
  if (typeof refresh !== 'number' || !(refresh >= 0.1)) throw new ConfigError(`Expected config \`web.refreshSeconds\` to be a number >= 0.1, got \`${String(refresh)}\``);
  const bulkBatch = positive(config.get('web.bulkBatch'), 'web.bulkBatch');
  const bulkMax = positive(config.get('web.bulkMax'), 'web.bulkMax');
  const concurrency = config.get('worker.concurrency');
  return {
    port, host, tokens: tokens.map((e) => ({ name: e.name, token: e.secret, role: e.role })),
    users: users.map((e) => ({ name: e.name, password: e.secret, role: e.role })),
    refreshMs: Math.round(refresh * 1000), bulkBatch, bulkMax,
    workerConcurrency: typeof concurrency === 'number' ? concurrency : 10,
  };
}

function positive(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new ConfigError(`Expected config \`${key}\` to be a whole number >= 1, got \`${String(value)}\``);
  return value;
}

/** A list of {name, <secret>, role} objects, each checked, naming the entry at fault. */
function entries(value: unknown, key: string, secretField: 'token' | 'password'): { name: string; secret: string; role: Role }[] {
  if (!Array.isArray(value)) throw new ConfigError(`Expected config \`${key}\` to be a list of {"name", "${secretField}", "role"} objects`);
  return value.map((entry: unknown, index) => {
    const where = `\`${key}[${index}]\``;
    if (typeof entry !== 'object' || entry === null) throw new ConfigError(`Expected config ${where} to be an object with "name", "${secretField}" and "role"`);
    const { name, role } = entry as Record<string, unknown>;
    const secret = (entry as Record<string, unknown>)[secretField];
    if (typeof name !== 'string' || name === '') throw new ConfigError(`Expected config ${where}.name to be a non-empty string`);
    if (typeof secret !== 'string' || secret.length < 8) throw new ConfigError(`Expected config ${where}.${secretField} to be a string of at least 8 characters`);
    if (role !== 'viewer' && role !== 'operator') throw new ConfigError(`Expected config ${where}.role to be "viewer" or "operator", got \`${String(role)}\``);
    return { name, secret, role };
  });
}
