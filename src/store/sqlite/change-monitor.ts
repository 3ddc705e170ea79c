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
  readonly #onSignal: (fileEvent: boolean) => void;
  readonly #fallbackMs: number;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pending = false;

  /** @param onSignal called with `true` after file events, `false` from the fallback timer. */
  constructor(path: string, onSignal: (fileEvent: boolean) => void, fallbackMs: number) {
    this.#path = path;
    this.#onSignal = onSignal;
    this.#fallbackMs = fallbackMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#watchFolder();
    this.#timer = setInterval(() => {
      if (this.#watcher === undefined) this.#watchFolder();
      this.#onSignal(false);
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
        if (name === null || name.startsWith(file)) this.#signal();
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
  #signal(): void {
    if (this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      this.#onSignal(true);
    });
  }
}
