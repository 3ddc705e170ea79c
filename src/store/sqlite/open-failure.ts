import { accessSync, constants, lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { dirname, join, parse, sep } from 'node:path';

/**
 * Why the job database at `path` could not be opened, in words a person can
 * act on. Errors from opening are SQLite's or the file system's and say
 * little (`unable to open database file`, `EEXIST … mkdir`, `file is not a
 * database`), so the path is looked at again to say which case it is: a file
 * where a folder must be, a directory at the path, a file that is not a
 * SQLite database, a permission missing. Only looks; never writes.
 * @param error what opening threw.
 */
export function whyCannotOpen(path: string, error: unknown): string {
  const code = codeOf(error);
  const folder = dirname(path);
  const blocker = fileInTheWay(folder);
  if (blocker !== undefined) return `its folder ${folder} cannot be created: ${blocker} is a file, not a folder`;

  const link = statOrUndefined(() => lstatSync(path));
  const stat = statOrUndefined(() => statSync(path));
  if (link?.isSymbolicLink() === true && stat === undefined) {
    return `it is a symbolic link to ${readlinkSync(path)}, which does not exist`;
  }
  if (stat?.isDirectory() === true) {
    return `it is a directory; worker.dbpath names the database file itself, e.g. ${join(path, 'worker.db')}`;
  }
  if (code === 'SQLITE_NOTADB') {
    return 'the file is not a SQLite database; it was left as it is (point worker.dbpath at another file, or move this one away)';
  }
  if (code === 'SQLITE_CORRUPT') return `the file is a damaged SQLite database (${messageOf(error)})`;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return `another process holds the database locked (${messageOf(error)})`;

  const user = process.getuid === undefined ? 'this user' : `this user (uid ${process.getuid()})`;
  const existing = stat === undefined ? nearestExisting(folder) : path;
  const refused = accessError(existing, stat === undefined ? constants.W_OK | constants.X_OK : constants.R_OK | constants.W_OK);
  if (refused === 'EROFS' || code === 'EROFS') return `the file system of ${existing} is read-only`;
  if (refused !== undefined || isPermissionCode(code)) {
    if (stat !== undefined) return `permission denied: ${user} cannot read and write the file`;
    return `permission denied: ${user} cannot create ${existing === folder ? 'files' : 'folders'} in ${existing}`;
  }
  if (code === 'SQLITE_CANTOPEN') return `SQLite cannot ${stat === undefined ? 'create' : 'open'} a database file there (${messageOf(error)})`;
  return messageOf(error);
}

/** The first of `folder` and its parents that exists but is not a directory (mkdir fails on it), if any. */
function fileInTheWay(folder: string): string | undefined {
  const { root } = parse(folder);
  let current = root;
  for (const part of folder.slice(root.length).split(sep).filter(Boolean)) {
    current = join(current, part);
    const stat = statOrUndefined(() => statSync(current));
    if (stat === undefined) return undefined; // missing from here on: mkdir would make it
    if (!stat.isDirectory()) return current;
  }
  return undefined;
}

/** `folder`, or its nearest parent that exists. */
function nearestExisting(folder: string): string {
  let current = folder;
  while (statOrUndefined(() => statSync(current)) === undefined && dirname(current) !== current) current = dirname(current);
  return current;
}

/** Why `access(path, mode)` fails (`EACCES`, `EROFS` …), or undefined when it succeeds. */
function accessError(path: string, mode: number): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'EACCES';
  }
}

function statOrUndefined(stat: () => Stats): Stats | undefined {
  try {
    return stat();
  } catch {
    // Missing, or not reachable (ENOTDIR, EACCES): the checks after this one say which matters.
    return undefined;
  }
}

function isPermissionCode(code: string | undefined): boolean {
  return code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH' || code?.startsWith('SQLITE_READONLY') === true;
}

/** The error's code, or its cause's (DatabaseUnavailableError wraps the file system's). */
function codeOf(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'ERR_DATABASE_UNAVAILABLE') return code;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
