import { JOB_STATES, type JobSearch, type JobState } from '../../src/store/job-store.ts';
import { badField } from './http-error.ts';

/**
 * The jobs list's filters as URL query parameters, the same for the pages'
 * address bar and the JSON API, so a filtered page can be bookmarked:
 * `state` (comma-separated), `target` (`service` or `service.method`), `tag`,
 * `key`, `q` (text in params or error), `from` and `to` (ISO 8601 instants
 * or epoch milliseconds, on when the job was added).
 */
export const FILTER_PARAMS = ['state', 'target', 'tag', 'key', 'q', 'from', 'to', 'recurring'] as const;

type Query = Readonly<Record<string, string | undefined>>;

/** The search `query` describes. @throws HttpError (400) naming the parameter at fault. */
export function searchFromQuery(query: Query): JobSearch {
  const search: { -readonly [K in keyof JobSearch]: JobSearch[K] } = {};
  const text = (name: string): string | undefined => {
    const value = query[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const state = text('state');
  if (state !== undefined) {
    const states = state.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const s of states) if (!(JOB_STATES as readonly string[]).includes(s)) throw badField('state', `unknown state "${s}"; expected ${JOB_STATES.join(', ')}`);
    search.states = states as JobState[];
  }
  const target = text('target');
  if (target !== undefined) {
    const dot = target.indexOf('.');
    if (dot === -1) search.service = target;
    else {
      if (dot > 0) search.service = target.slice(0, dot);
      if (dot < target.length - 1) search.method = target.slice(dot + 1);
    }
  }
  const tag = text('tag');
  if (tag !== undefined) search.tag = tag;
  const key = text('key');
  if (key !== undefined) search.key = key;
  const q = text('q');
  if (q !== undefined) {
    if (q.length > 200) throw badField('q', 'at most 200 characters');
    search.text = q;
  }
  const recurring = text('recurring');
  if (recurring !== undefined) search.recurringId = positiveInteger(recurring, 'recurring');
  const from = text('from');
  if (from !== undefined) search.createdFrom = instant(from, 'from');
  const to = text('to');
  if (to !== undefined) search.createdBefore = instant(to, 'to');
  return search;
}

/** A positive whole number given as text. @throws HttpError naming `field`. */
export function positiveInteger(value: string, field: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw badField(field, `expected a positive whole number, got "${value.slice(0, 40)}"`);
  return Number(value);
}

/** An instant given as ISO 8601 with a zone, or epoch milliseconds. */
export function instant(value: string, field: string): number {
  if (/^\d{1,15}$/.test(value)) return Number(value);
  // A time without a zone would be read in the server's zone: refuse it, as `jobs add --at` does.
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(value) && value.includes('T')) throw badField(field, `"${value}" has no time zone: add Z or an offset such as +01:00`);
  const at = Date.parse(value);
  if (!Number.isFinite(at)) throw badField(field, `expected an ISO 8601 instant (2026-11-30T08:00:00Z) or epoch milliseconds, got "${value.slice(0, 40)}"`);
  return at;
}
