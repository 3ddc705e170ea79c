/**
 * The OpenAPI 3.1 document of the JSON API (`GET /api/openapi.json`). Kept
 * by hand beside api-routes.ts: one entry per route, with the filters as
 * parameters; the tests check that every route the API serves is listed.
 */
export function openApiDocument(): Record<string, unknown> {
  const filters = ['state', 'target', 'tag', 'key', 'q', 'from', 'to', 'recurring'].map((name) => ({
    name, in: 'query', required: false, schema: { type: 'string' },
    description: {
      state: 'Comma-separated states: waiting, running, succeeded, failed, cancelled.',
      target: '`service` or `service.method`.', tag: 'A tag the job carries.', key: 'The job\'s unique key.',
      q: 'Text found (ignoring case) in the params or the last error.', from: 'Added at or after (ISO 8601 or epoch ms).',
      to: 'Added before (ISO 8601 or epoch ms).', recurring: 'Occurrences of this recurring job id.',
    }[name],
  }));
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
  const error = { description: 'Refused: `{ error: { code, message, field? } }`; `field` names the bad parameter or body field.' };
  const ok = (description: string) => ({ 200: { description }, 400: error, 401: error, 403: error, 404: error });
  const action = (summary: string) => ({ post: { summary, parameters: [id], responses: { ...ok('Done'), 409: error } } });
  return {
    openapi: '3.1.0',
    info: { title: 'amsoil-scheduler', version: '1', description: 'Jobs, recurring jobs and actions. Auth: Authorization: Bearer (web.tokens) or basic (web.users); state-changing requests need the operator role.' },
    paths: {
      '/api/overview': { get: { summary: 'Counts by state, the last hour minute by minute, workers (the shared snapshot).', responses: ok('Snapshot') } },
      '/api/jobs': {
        get: { summary: 'Jobs newest first, by keyset (`before` = the previous page\'s `next`).', parameters: [...filters, { name: 'before', in: 'query', schema: { type: 'integer' } }, { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 500 } }], responses: ok('{ jobs, next, partial }') },
        post: {
          summary: 'Add a job: one-off, scheduled (runAt) or recurring (every or cron), as `jobs add`.',
          requestBody: { required: true, content: { 'application/json': { schema: {
            type: 'object', required: ['service', 'method'], additionalProperties: false,
            properties: {
              service: { type: 'string' }, method: { type: 'string' }, params: {}, runAt: { type: 'string', format: 'date-time' },
              maxAttempts: { type: 'integer' }, timeout: { type: 'number' }, priority: { oneOf: [{ type: 'integer' }, { enum: ['high', 'normal', 'low'] }] },
              key: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } }, every: { type: 'number' }, cron: { type: 'string' }, tz: { type: 'string' }, name: { type: 'string' },
            },
          } } } },
          responses: { 201: { description: '{ id }' }, 400: error, 401: error, 403: error },
        },
      },
      '/api/jobs/count': { get: { summary: 'How many jobs match, counted up to 10,000 (`capped`).', parameters: filters, responses: ok('{ count, capped, text }') } },
      '/api/jobs/{id}': {
        get: {
          summary: 'A job with every attempt\'s error, its notes, recurring origin, parents and dependants (each `{ id, state, target }`, at most 50; `parentsTotal`, `dependantsTotal` count all) and `why`: why it waits (`parents`, `concurrency`, `paused`) or which parent\'s end cancelled it (`parent-ended`), each with a `text`.',
          parameters: [id], responses: ok('{ job, errors, notes, recurring, parents, parentsTotal, dependants, dependantsTotal, why }'),
        },
        delete: { summary: 'Delete a finished job.', parameters: [id], responses: { ...ok('Deleted'), 409: error } },
      },
      '/api/jobs/{id}/retry': action('Retry a failed or cancelled job.'),
      '/api/jobs/{id}/cancel': action('Cancel a waiting or running job.'),
      '/api/jobs/{id}/run-now': action('Make a waiting (scheduled or retrying) job due now.'),
      '/api/bulk/preview': { post: { summary: 'How many jobs a bulk action on `filter` would touch.', responses: ok('{ count, capped, text }') } },
      '/api/bulk': { post: { summary: 'Start a bulk action: `{ action, ids }` or `{ action, filter }`; runs in batches in the background.', responses: { 202: { description: 'Progress; follow it at /api/bulk/{id}' }, 400: error, 403: error } } },
      '/api/bulk/{id}': { get: { summary: 'A bulk action\'s progress.', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: ok('Progress') } },
      '/api/recurring': { get: { summary: 'Recurring jobs: schedule in words, next five fire times (none while paused), last outcome, `pausedAt` (ISO 8601, or null while it runs).', responses: ok('{ recurring }') } },
      '/api/recurring/{id}/run-now': { post: { summary: 'Add a one-off copy of the recurring job, due now.', parameters: [id], responses: { 201: { description: '{ job }' }, 403: error, 404: error } } },
      '/api/recurring/{id}/pause': { post: {
        summary: 'Pause a recurring job (operator): it adds no occurrence until resumed (those already added stay); pausing a paused one keeps its first `pausedAt`.',
        parameters: [id], responses: ok('The recurring job as GET /api/recurring lists it: `pausedAt` set, `nextFires` empty'),
      } },
      '/api/recurring/{id}/resume': { post: {
        summary: 'Resume a paused recurring job (operator): it runs next at its first fire time from now on; every occurrence due before the resume is skipped. One not paused is left as it is.',
        parameters: [id], responses: ok('The recurring job as GET /api/recurring lists it: `pausedAt` null'),
      } },
      '/api/recurring/{id}': { delete: { summary: 'Remove a recurring job (its jobs stay).', parameters: [id], responses: ok('Removed') } },
      '/api/paused': {
        get: { summary: 'Paused targets: `{ paused: [{ target, service, method, at }] }` (`method` null: the whole service).', responses: ok('{ paused }') },
        post: {
          summary: 'Pause a target for every worker (operator): its waiting jobs are not claimed until it is resumed; running ones finish; adds still succeed.',
          requestBody: { required: true, content: { 'application/json': { schema: {
            type: 'object', required: ['target'], additionalProperties: false,
            properties: { target: { type: 'string', maxLength: 200, description: '`service.method`, or `service` for all its methods.' } },
          } } } },
          responses: { 201: { description: '{ target, service, method, at }' }, 400: error, 401: error, 403: error, 409: error },
        },
      },
      '/api/paused/{target}': {
        delete: {
          summary: 'Resume a paused target (operator): exactly that entry; a method paused with its whole service stays paused until the service is resumed.',
          parameters: [{ name: 'target', in: 'path', required: true, schema: { type: 'string' }, description: '`service.method` or `service`, URL-encoded.' }],
          responses: { ...ok('{ target, resumed }'), 404: { description: 'Not paused: `{ error }`' } },
        },
      },
      '/api/concurrency-keys': { get: { summary: 'Concurrency keys with jobs running or parked (waiting because the key is full), most parked first, at most 200: `{ keys: [{ key, running, parked, limit }], truncated }`.', responses: ok('{ keys, truncated }') } },
      '/api/rate-limits': { get: { summary: 'Rate limits by name, each with its starts in the last window and, when that window is full, when the next may start: `{ rateLimits: [{ name, limit, perSeconds, recentStarts, freeAt }] }` (`freeAt` ISO 8601, or null when there is room now).', responses: ok('{ rateLimits }') } },
      '/api/events': { get: { summary: 'Server-sent events: `snapshot` every refresh interval, or `job` (with ?job=ID) with the job and its new notes.', parameters: [{ name: 'job', in: 'query', schema: { type: 'integer' } }], responses: { 200: { description: 'text/event-stream' } } } },
      '/api/openapi.json': { get: { summary: 'This document.', responses: { 200: { description: 'OpenAPI 3.1' } } } },
      '/metrics': { get: { summary: 'Prometheus text format.', responses: { 200: { description: 'text/plain; version=0.0.4' } } } },
    },
  };
}
