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
let db;
let ino;

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
    ino = current;
  }
  // PASSIVE never waits for readers or writers: it copies what it can now and tries again next time.
  db.pragma('wal_checkpoint(PASSIVE)');
}

function tick() {
  try {
    checkpoint();
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
}

const timer = setInterval(tick, intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db?.close();
  parentPort.close();
});
