import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { isLoopback, type Role, type WebConfig } from './web-config.ts';

/** Who made a request, as the access check found. */
export interface Identity {
  /** A configured user's or token's name; `local` on an open loopback server. */
  readonly name: string;
  readonly role: Role;
}

/** The Hono environment of every route: the identity the access check set. */
export interface WebEnv {
  Variables: { who: Identity };
}

/** Compares secrets in constant time (their hashes, so the lengths leak nothing either). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The identity `header` (an Authorization header) proves, or undefined. */
function identify(header: string | undefined, config: WebConfig): Identity | undefined {
  if (header === undefined) return undefined;
  const [scheme, value = ''] = header.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer') {
    const token = config.tokens.find((t) => sameSecret(value, t.token));
    return token === undefined ? undefined : { name: token.name, role: token.role };
  }
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return undefined;
    const name = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    // Every entry is compared, found or not, so the time taken does not tell which names exist.
    let found: Identity | undefined;
    for (const user of config.users) if (sameSecret(name, user.name) && sameSecret(password, user.password)) found = { name: user.name, role: user.role };
    return found;
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Why a state-changing request may come from another site, or null. Browsers
 * send `Sec-Fetch-Site` (and `Origin` on POST): a page elsewhere cannot
 * forge either, so one that says cross-site or another origin is refused.
 * A request with neither (curl, a script) is not a browser's and passes.
 */
export function crossSiteReason(c: Context): string | null {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is ${site}`;
  const origin = c.req.header('origin');
  if (origin !== undefined) {
    const host = c.req.header('host');
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return `Origin ${origin} is not a URL`;
    }
    if (originHost !== host) return `Origin ${origin} is not this server`;
  }
  return null;
}

/**
 * The access check in front of every route. With no credentials configured
 * (allowed on loopback only: see readWebConfig) everyone is the operator
 * `local`, but only for requests naming a loopback host (a page on another
 * site cannot reach in by DNS rebinding). Otherwise a token or a user is
 * required (401), viewers may only read (403), and every state-changing
 * request must come from this server's own pages or from no browser (403).
 */
export function accessCheck(config: WebConfig): MiddlewareHandler<WebEnv> {
  const open = config.tokens.length === 0 && config.users.length === 0;
  return async (c, next) => {
    let who: Identity | undefined;
    if (open) {
      const hostname = (c.req.header('host') ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (!isLoopback(hostname)) return c.json({ error: { code: 'ERR_FORBIDDEN', message: `host ${hostname} is not this machine's loopback address` } }, 403);
      who = { name: 'local', role: 'operator' };
    } else {
      who = identify(c.req.header('authorization'), config);
      if (who === undefined) {
        if (config.users.length > 0) c.header('WWW-Authenticate', 'Basic realm="amsoil-scheduler", charset="UTF-8"');
        return c.json({ error: { code: 'ERR_UNAUTHORIZED', message: 'sign in: a user of web.users (basic auth) or a token of web.tokens (Authorization: Bearer)' } }, 401);
      }
    }
    if (!SAFE_METHODS.has(c.req.method)) {
      if (who.role !== 'operator') return c.json({ error: { code: 'ERR_FORBIDDEN', message: `${who.name} is a viewer: only operators may change jobs` } }, 403);
      const reason = crossSiteReason(c);
      if (reason !== null) return c.json({ error: { code: 'ERR_CROSS_SITE', message: `refused a state-changing request from another site (${reason})` } }, 403);
    }
    c.set('who', who);
    await next();
  };
}
