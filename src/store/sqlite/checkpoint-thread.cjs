// The body of the background checkpointer (checkpointer.ts): a worker thread
// with its own connection that copies the WAL back into the database file,
// so the fsync that goes with it never blocks the event loop of the process
// claiming and running jobs. Plain CommonJS so that a worker thread can load
// it whatever runs the main thread (node, tsx, vitest).
'use strict';
const { statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);

const { path, intervalMs } = workerData;
// Idle, the thread backs off to this: a process with nothing to write should cost nothing.
const idleIntervalMs = Math.max(intervalMs, 5000);
let db;
let ino;
let delay = intervalMs;
let lastFrames = -1;
let timer;

function inode() {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function checkpoint() {
  // The file was deleted or replaced (the AMsoil way of clearing jobs): follow the path.
  const current = inode();
  if (db !== undefined && current !== ino) {
    db.close();
    db = undefined;
  }
  if (current === undefined) return;
  if (db === undefined) {
    // Never create the file: the store that owns this thread creates and migrates it.
    db = new Database(path, { fileMustExist: true });
    // The WAL and its index are opened by name on the first read. Only if the same file was at the path
    // before the open and after that read do they belong to the file this connection has open; a
    // checkpoint through another file's index would copy that file's pages into this one (see open-database.ts).
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (inode() !== current) {
      db.close();
      db = undefined;
      return;
    }
    ino = current;
  }
  // PASSIVE never waits for readers or writers: it copies what it can now and tries again next time.
  const [row] = db.pragma('wal_checkpoint(PASSIVE)');
  return row;
}

function tick() {
  try {
    const row = checkpoint();
    // No file, or nothing new in the WAL since last time: wait longer; anything new: back to the short interval.
    const idle = row === undefined || (row.log === lastFrames && row.checkpointed === row.log);
    delay = idle ? Math.min(delay * 2, idleIntervalMs) : intervalMs;
    lastFrames = row === undefined ? -1 : row.log;
  } catch (error) {
    delay = intervalMs;
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
  timer = setTimeout(tick, delay);
}

timer = setTimeout(tick, delay);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearTimeout(timer);
  db?.close();
  parentPort.close();
});
