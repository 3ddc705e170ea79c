import { SchedulerError } from '../../src/index.ts';

/** A request the API refuses, with the HTTP status to answer and, for bad input, the field at fault. */
export class HttpError extends SchedulerError {
  readonly status: 400 | 403 | 404 | 409 | 413 | 415;
  /** The query parameter or body field at fault, e.g. `params` or `tags[1]`. */
  readonly field: string | undefined;

  constructor(status: HttpError['status'], code: string, message: string, field?: string) {
    super(code, message);
    this.status = status;
    this.field = field;
  }
}

/** A bad query parameter or body field: 400 naming it. */
export function badField(field: string, message: string): HttpError {
  return new HttpError(400, 'ERR_INVALID_ARGUMENT', `${field}: ${message}`, field);
}
