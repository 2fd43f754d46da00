/**
 * How the runtime notices that a task started or ended without polling hot: one inotify
 * watch (fs.watch) on the events directory, where every supervisor touches
 * `<id>.started` and `<id>.exited`, plus a slow safety poll. Only markers land there (the
 * logs are elsewhere), so a task writing its log at full speed wakes nothing.
 *
 * The watch is a hint, never the truth: the handler reads the task's files. The poll
 * covers what a watch cannot see (a supervisor killed before it could touch a marker, an
 * inotify queue overflow) and re-creates a watch that failed.
 */
import { type FSWatcher, watch } from 'node:fs';
import type { Clock, Timer } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import { type MarkerKind, parseMarker } from './task-dir.ts';

export interface EventWatcherOptions {
  dir: string;
  clock: Clock;
  pollIntervalMs: number;
  logger: Logger;
  /** Creates the directory before it is watched. */
  ensureDir: () => void;
  onMarker: (id: string, kind: MarkerKind) => void;
  onPoll: () => void;
}

export class EventWatcher {
  private readonly o: EventWatcherOptions;
  private watcher: FSWatcher | undefined;
  private pollTimer: Timer | undefined;
  private closed = false;

  constructor(options: EventWatcherOptions) {
    this.o = options;
  }

  /** Watches and polls; idempotent, and re-creates a watch that failed. */
  start(): void {
    if (this.closed) return;
    if (!this.watcher) {
      try {
        this.o.ensureDir();
        const w = watch(this.o.dir, { persistent: false }, (_type, filename) => {
          if (this.closed || filename === null) return;
          const m = parseMarker(filename.toString());
          if (m) this.o.onMarker(m.id, m.kind);
        });
        w.on('error', (err) => {
          this.o.logger.warn({ err, dir: this.o.dir }, 'task event watch failed; the poll covers until it is back');
          w.close();
          if (this.watcher === w) this.watcher = undefined;
        });
        this.watcher = w;
      } catch (err) {
        this.o.logger.warn({ err, dir: this.o.dir }, 'cannot watch task events; the poll covers');
      }
    }
    if (!this.pollTimer) this.schedulePoll();
  }

  close(): void {
    this.closed = true;
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedulePoll(): void {
    this.pollTimer = this.o.clock.setTimer(this.o.pollIntervalMs, () => {
      this.pollTimer = undefined;
      if (this.closed) return;
      this.o.onPoll();
      this.start();
    });
  }
}
