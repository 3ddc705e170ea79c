import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Wakes the store when the database folder changes. Another process's commit
 * writes the `-wal` file, which inotify reports at once, so a job added
 * elsewhere starts within a millisecond or two without polling. A slow timer
 * backs it up (a file system without change events, a missed event, a
 * deleted folder), and is also what notices a deleted database file.
 */
export class ChangeMonitor {
  readonly #path: string;
  readonly #onSignal: (signal: ChangeSignal) => void;
  readonly #fallbackMs: number;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The strongest signal since the last call, or undefined when none is pending. */
  #pending: ChangeSignal | undefined;

  /** @param onSignal called once per turn after file events, and from the fallback timer. */
  constructor(path: string, onSignal: (signal: ChangeSignal) => void, fallbackMs: number) {
    this.#path = path;
    this.#onSignal = onSignal;
    this.#fallbackMs = fallbackMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#watchFolder();
    this.#timer = setInterval(() => {
      if (this.#watcher === undefined) this.#watchFolder();
      this.#onSignal('timer');
    }, this.#fallbackMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #watchFolder(): void {
    const file = basename(this.#path);
    try {
      this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, name) => {
        // A commit writes the -wal file; only an event on the database file itself (or an unnamed one) can be its deletion.
        if (name === null || name === file) this.#signal('file');
        else if (name.startsWith(file)) this.#signal('wal');
      });
      this.#watcher.on('error', () => {
        // The folder itself went away; the timer re-creates the watch once the store reopens it.
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      this.#watcher = undefined;
    }
  }

  /** Coalesces a burst of file events into one check per turn of the event loop. */
  #signal(signal: 'file' | 'wal'): void {
    const pending = this.#pending;
    if (pending === 'file' || pending === signal) return;
    this.#pending = signal;
    if (pending !== undefined) return;
    setImmediate(() => {
      const strongest = this.#pending!;
      this.#pending = undefined;
      this.#onSignal(strongest);
    });
  }
}

/**
 * Why the store should look again: `wal`, the write-ahead log changed (a
 * commit, here or elsewhere); `file`, the database file itself changed or may
 * be gone; `timer`, the fallback timer.
 */
export type ChangeSignal = 'wal' | 'file' | 'timer';
