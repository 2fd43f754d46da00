/**
 * `logs --follow` and `service logs --follow`: polling the manager with a cursor per log.
 *
 * The first poll reads what `--tail` asks for; every later poll names, for each log read so
 * far, the byte offset just after what it got (the chunk's `end`), and asks for no tail, so
 * a log seen for the first time (a task that started after the command began: a new
 * replica, a restart) is read from its start. Reads from one end to the next neither lose
 * nor repeat a byte. A line is printed once it is complete: the bytes after a log's last
 * newline wait for the next poll, and are printed as they are when their task has ended.
 *
 * A log that cannot be read (its node is down) reports its error once, and is read again
 * from where it was when it comes back. The loop ends when `signal` aborts (Ctrl-C), or,
 * with `untilEnded`, once every log it follows has ended (`shoal logs -f` of one task, as
 * `docker logs -f` ends when its container stops).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogChunk, LogsRequest } from '../api/api-types.ts';

/** Time between polls, ms: how late a line may show. */
export const FOLLOW_POLL_MS = 500;

/** A log's key: its task, or its container. */
function logKey(c: LogChunk): string {
  return c.taskId || c.containerId;
}

/** One piece of output: the complete lines a chunk brought (the chunk says whose they are). */
export interface FollowedLines {
  chunk: LogChunk;
  /** Whole lines, each ending in a newline (the last one of an ended log may not). */
  data: Uint8Array;
  /** Each line's time, when the poll asked for them (empty otherwise). */
  times: number[];
}

/** The cursors and held-back partial lines of every log followed. */
export class LogCursors {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, { data: Buffer; time: number | undefined }>();
  private readonly failing = new Map<string, string>();
  private readonly ended = new Set<string>();
  private first = true;

  constructor(private readonly tail: number | undefined) {}

  /** The cursor fields of the next request. */
  request(): FollowCursor {
    const out: FollowCursor = { offsets: Object.fromEntries(this.offsets) };
    if (this.first && this.tail !== undefined) out.tail = this.tail;
    return out;
  }

  /** Whether every log seen so far has ended (none seen: false). */
  allEnded(): boolean {
    return this.offsets.size > 0 && [...this.offsets.keys()].every((k) => this.ended.has(k));
  }

  /**
   * Takes one poll's chunks: advances the cursors and returns what to print, the lines in
   * the order of the chunks, and the errors to report (a log's error once, until it reads).
   */
  take(chunks: readonly LogChunk[]): { lines: FollowedLines[]; errors: LogChunk[] } {
    this.first = false;
    const lines: FollowedLines[] = [];
    const errors: LogChunk[] = [];
    for (const c of chunks) {
      const key = logKey(c);
      if (c.errorCode !== '') {
        if (this.failing.get(key) !== c.errorCode) errors.push(c);
        this.failing.set(key, c.errorCode);
        continue;
      }
      this.failing.delete(key);
      const before = this.offsets.get(key);
      if (before !== undefined && c.end < before) this.partial.delete(key); // the log was replaced: start over
      this.offsets.set(key, c.end);
      if (c.ended) this.ended.add(key);
      const held = this.partial.get(key);
      const fresh = Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength);
      const data = held ? Buffer.concat([held.data, fresh]) : fresh;
      // a held partial line is completed by the chunk's first line, which has its time
      const times = fresh.length === 0 && held?.time !== undefined ? [held.time] : [...c.lineTimes];
      const cut = c.ended ? data.length : data.lastIndexOf(0x0a) + 1;
      if (cut < data.length) {
        const partialTime = fresh.length === 0 ? held?.time : c.lineTimes[c.lineTimes.length - 1];
        this.partial.set(key, { data: Buffer.from(data.subarray(cut)), time: partialTime });
      } else this.partial.delete(key);
      if (cut > 0) {
        const printed = data.subarray(0, cut);
        let count = 0;
        for (const b of printed) if (b === 0x0a) count++;
        if (printed[printed.length - 1] !== 0x0a) count++;
        lines.push({ chunk: c, data: printed, times: times.slice(0, count) });
      }
    }
    return { lines, errors };
  }
}

/** What a poll asks beyond its source: the first poll's tail, then each log's cursor. */
export type FollowCursor = Pick<LogsRequest, 'tail' | 'offsets'>;

export interface FollowIo {
  /** One poll: the manager's chunks for this request. */
  poll(cursor: FollowCursor): Promise<LogChunk[]>;
  /** Prints one chunk's complete lines. */
  print(lines: FollowedLines): void;
  /** Reports a log that could not be read. */
  report(chunk: LogChunk): void;
  /** Waits `ms`, or less when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * Polls until `signal` aborts (or, with `untilEnded`, every log ended). Returns the number
 * of logs that failed on the first poll (the command's exit status counts them). A poll
 * that fails as a whole (the manager went away) ends the loop with that error.
 */
export async function followLogs(
  io: FollowIo,
  opts: { tail: number | undefined; signal: AbortSignal; untilEnded: boolean; pollMs?: number },
): Promise<number> {
  const cursors = new LogCursors(opts.tail);
  let firstFailures = -1;
  while (!opts.signal.aborted) {
    let chunks: LogChunk[];
    try {
      chunks = await io.poll(cursors.request());
    } catch (err) {
      if (opts.signal.aborted) break;
      throw err;
    }
    const { lines, errors } = cursors.take(chunks);
    for (const l of lines) io.print(l);
    for (const e of errors) io.report(e);
    if (firstFailures < 0) firstFailures = errors.length;
    if (opts.untilEnded && cursors.allEnded()) break;
    await io.sleep(opts.pollMs ?? FOLLOW_POLL_MS, opts.signal);
  }
  return Math.max(0, firstFailures);
}

/** A sleep that an abort cuts short. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  // the timer rejects when the signal aborts: that ends the wait early, it is no failure
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
