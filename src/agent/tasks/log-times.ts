/**
 * When each line of a task's log was written, to within LOG_TIME_RESOLUTION_MS: what
 * `logs --since` and `logs --timestamps` read. The task writes its log through a file
 * descriptor (launch.ts), so nothing stamps its lines as they pass; instead the agent
 * watches the file (one inotify watch per running task, fs.watch) and, at most once per
 * resolution period while it grows, appends `SIZE MS` to DIR/<id>/output.times: at wall
 * time MS the log had SIZE bytes. The bytes after the previous record's size were written
 * at or before MS, after the previous record's time. A line's time is the time of the byte
 * that ends it (when it was complete, as Docker stamps a line when its end arrives).
 *
 * Bytes written while no agent watched (between an agent's end and the next one's
 * adoption) get the time the next agent first saw them; bytes after the last record (not
 * seen yet) get the time of the read. Every read records first (mark), so what one read
 * stamped with a time keeps that time in every later read.
 *
 * Costs: one record of about 20 bytes per resolution period while a task writes, none
 * while it is quiet.
 */
import { appendFileSync, type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';

/** Smallest time between two records of one log, ms: how far a line's time may lag its write. */
export const LOG_TIME_RESOLUTION_MS = 100;

/** At wall time `ms` the log had `size` bytes. */
export interface LogTimeRecord {
  size: number;
  ms: number;
}

/** The records of a times file's text (a line that does not parse, such as a torn last line, is skipped). */
export function parseLogTimes(text: string): LogTimeRecord[] {
  const out: LogTimeRecord[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line);
    if (m) out.push({ size: Number(m[1]), ms: Number(m[2]) });
  }
  return out;
}

/** The time of the byte at `offset`: the first record that covers it, else `nowMs`. */
export function byteTime(records: readonly LogTimeRecord[], offset: number, nowMs: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((records[mid] as LogTimeRecord).size > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo < records.length ? (records[lo] as LogTimeRecord).ms : nowMs;
}

/**
 * The first byte written at or after `sinceMs`: the size of the last record older than it
 * (0 when none is). A line that ends at or after this byte is a line since `sinceMs`.
 */
export function offsetSince(records: readonly LogTimeRecord[], sinceMs: number): number {
  let offset = 0;
  for (const r of records) {
    if (r.ms >= sinceMs) break;
    offset = r.size;
  }
  return offset;
}

/** One time per line of `data` (read from byte `start`): newline-ended lines, then a last line without one. */
export function lineTimes(records: readonly LogTimeRecord[], start: number, data: Uint8Array, nowMs: number): number[] {
  const out: number[] = [];
  let lineStart = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== 0x0a) continue;
    out.push(byteTime(records, start + i, nowMs));
    lineStart = i + 1;
  }
  if (lineStart < data.length) out.push(byteTime(records, start + data.length - 1, nowMs));
  return out;
}

interface Watched {
  id: string;
  log: string;
  times: string;
  /** Size of the last record written (or read back). */
  recorded: number;
  watcher: FSWatcher | undefined;
  pending: { cancel(): void } | undefined;
  lastMs: number;
}

/** Keeps the times files of the logs it watches (see the module comment). */
export class LogClock {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Starts recording the times of a log (idempotent); records its size now. */
  watch(id: string, log: string, times: string): void {
    if (this.watched.has(id)) return;
    const w: Watched = { id, log, times, recorded: lastSize(times), watcher: undefined, pending: undefined, lastMs: 0 };
    this.watched.set(id, w);
    try {
      w.watcher = watch(log, { persistent: false }, () => this.schedule(w));
      w.watcher.on('error', (err) => this.logger.debug({ id, err }, 'log watch ended'));
    } catch (err) {
      // no file yet, or no inotify watch left: reads still record, at their own time
      this.logger.debug({ id, err }, 'cannot watch a task log');
    }
    this.record(w);
  }

  /** Records the size of a log now, watched or not (a read calls this first). */
  mark(id: string, log: string, times: string): void {
    this.record(this.watched.get(id) ?? { id, log, times, recorded: lastSize(times), watcher: undefined, pending: undefined, lastMs: 0 });
  }

  /** Records a last time and stops watching (the task ended, or is forgotten). */
  unwatch(id: string, final = true): void {
    const w = this.watched.get(id);
    if (!w) return;
    this.watched.delete(id);
    w.pending?.cancel();
    w.watcher?.close();
    if (final) this.record(w);
  }

  close(): void {
    for (const id of [...this.watched.keys()]) this.unwatch(id, false);
  }

  private schedule(w: Watched): void {
    if (w.pending || this.watched.get(w.id) !== w) return;
    const wait = Math.max(0, w.lastMs + LOG_TIME_RESOLUTION_MS - this.clock.wallNow());
    w.pending = this.clock.setTimer(wait, () => {
      w.pending = undefined;
      this.record(w);
    });
  }

  private record(w: Watched): void {
    let size: number;
    try {
      size = statSync(w.log).size;
    } catch {
      return; // no log yet (or gone with its task)
    }
    if (size <= w.recorded) {
      // a log replaced by a shorter one starts its records again
      if (size < w.recorded) w.recorded = size;
      return;
    }
    const now = this.clock.wallNow();
    try {
      appendFileSync(w.times, `${size} ${now}\n`);
      w.recorded = size;
      w.lastMs = now;
    } catch (err) {
      this.logger.debug({ err, times: w.times }, 'cannot record a log time');
    }
  }
}

/** The size of the last record of a times file (0 when there is none). */
function lastSize(times: string): number {
  return readLogTimes(times).at(-1)?.size ?? 0;
}

/** The records of a times file; none when it does not exist. */
export function readLogTimes(times: string): LogTimeRecord[] {
  try {
    return parseLogTimes(readFileSync(times, 'utf8'));
  } catch {
    return [];
  }
}
