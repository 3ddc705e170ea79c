/**
 * Every error this project raises on purpose carries a stable `code`, so that
 * callers (and the CLI's exit status) can tell a user's mistake from a crash
 * without matching on message text.
 */
export class SchedulerError extends Error {
  /** Stable, machine-readable identifier, e.g. `ERR_INVALID_ARGUMENT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value passed by a caller (API argument, CLI flag, config value) is not acceptable. */
export class InvalidArgumentError extends SchedulerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/** Params or a result that cannot be stored faithfully (a function, a class instance, ...). */
export class SerializationError extends SchedulerError {
  /** Where the offending value sits, e.g. `params.user.save`. */
  readonly path: string;

  constructor(path: string, message: string) {
    super('ERR_NOT_SERIALIZABLE', message);
    this.path = path;
  }
}

/** A plugin folder, its manifest or its `setup()` stops start-up. */
export class PluginError extends SchedulerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PLUGIN', message, options);
  }
}

/** A configuration key or value is unknown or malformed. */
export class ConfigError extends SchedulerError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** A job cannot be run: unknown service or method, or a method not marked `outsideprocess`. */
export class JobTargetError extends SchedulerError {
  constructor(message: string) {
    super('ERR_JOB_TARGET', message);
  }
}

/** A job id that does not exist in the store. */
export class JobNotFoundError extends SchedulerError {
  constructor(id: number) {
    super('ERR_JOB_NOT_FOUND', `no job with id ${id}`);
  }
}

/** No recurring job has this signature. */
export class RecurringNotFoundError extends SchedulerError {
  constructor(signature: string) {
    super('ERR_RECURRING_NOT_FOUND', `no recurring job with signature ${signature}`);
  }
}

/** The jobs database was migrated by a newer version of the scheduler than this one: its SQL would not fit. */
export class SchemaTooNewError extends SchedulerError {
  constructor(file: string, version: number, known: number) {
    super(
      'ERR_SCHEMA_TOO_NEW',
      `the jobs database ${file} is at schema version ${version}, newer than this version of the scheduler knows (up to ${known}): run the newer version, or use another file`,
    );
  }
}

/**
 * A job was asked for by a handle, an id or a worker from before its
 * database was deleted or replaced (the AMsoil way of clearing jobs): it is
 * gone, and the job that has its id now is another one.
 */
export class DatabaseReplacedError extends SchedulerError {
  /** Where the database is: its file, or its server and schema. */
  readonly location: string;

  constructor(what: string, location: string) {
    super('ERR_DATABASE_REPLACED', `${what} is gone: the jobs database (${location}) was deleted or replaced since`);
    this.location = location;
  }
}

/** The store was closed: waits on results and progress watches end with this. */
export class StoreClosedError extends SchedulerError {
  constructor(what: string) {
    super('ERR_STORE_CLOSED', `${what}: the jobs store was closed`);
  }
}

/** A write could not be made durable in the jobs database (it kept being deleted, or it cannot be opened). */
export class DatabaseUnavailableError extends SchedulerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DATABASE_UNAVAILABLE', message, options);
  }
}
