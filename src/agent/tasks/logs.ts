/**
 * Reading a task's log back: the whole file, its last N lines read from the end in
 * blocks (so that `logs --tail 10` of a large log reads a few KiB, not the file), or
 * everything after a byte offset (follow mode's cursor). Each read also says the offset
 * just after what it returned, the cursor of the next read: reads from one cursor to the
 * next neither lose nor repeat a byte while the log only grows.
 */
import { type FileHandle, open } from 'node:fs/promises';

/** Read size when scanning backwards for line ends. */
const BLOCK = 64 * 1024;

/** The last `tail` lines of the file at `path` (all of it when tail is undefined); empty when the file does not exist. */
export async function readTail(path: string, tail?: number): Promise<Buffer> {
  return (await readLog(path, tail !== undefined ? { tail } : {})).data;
}

/** Bytes of a log and the offset just after them. */
export interface LogRead {
  data: Buffer;
  end: number;
}

/**
 * With `offset`: the bytes from there to the end of the file (from 0 when the file is
 * shorter than `offset`: it was replaced). Otherwise the last `tail` lines (all without
 * it), and with `since` (a byte offset) only the lines that end at or after that byte:
 * the read starts at the start of the line holding it. A missing file reads as empty,
 * ending at 0.
 */
export async function readLog(path: string, opts: { tail?: number; offset?: number; since?: number }): Promise<LogRead> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { data: Buffer.alloc(0), end: 0 };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    let start: number;
    if (opts.offset !== undefined) start = opts.offset > size ? 0 : opts.offset;
    else {
      start = opts.tail === undefined ? 0 : await tailStart(fh, size, opts.tail);
      if (opts.since !== undefined) start = Math.max(start, await lineStart(fh, Math.min(opts.since, size)));
    }
    const data = await readRange(fh, start, size);
    return { data, end: start + data.length };
  } finally {
    await fh.close();
  }
}

/** Where the last `tail` lines of a file of `size` bytes start. */
async function tailStart(fh: FileHandle, size: number, tail: number): Promise<number> {
  if (tail <= 0 || size === 0) return size;
  const last = await readRange(fh, size - 1, size);
  const endsWithNewline = last[0] === 0x0a;
  let end = size;
  let seen = 0;
  let first = true;
  while (end > 0) {
    const start = Math.max(0, end - BLOCK);
    const buf = await readRange(fh, start, end);
    const r = scanTail(buf, tail, endsWithNewline && first, seen);
    if (r.offset >= 0) return start + r.offset;
    seen = r.seen;
    end = start;
    first = false;
  }
  return 0;
}

/** The start of the line that holds byte `offset`: just after the last newline before it (0 when none is). */
async function lineStart(fh: FileHandle, offset: number): Promise<number> {
  let end = offset;
  while (end > 0) {
    const start = Math.max(0, end - BLOCK);
    const buf = await readRange(fh, start, end);
    const i = buf.lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return 0;
}

/**
 * Scans one block backwards for the start of the last `tail` lines. `seen` line ends were
 * counted in the blocks after this one; `skipFinalNewline` is set for the file's last
 * block when the file ends with a newline (that newline ends the last line, it starts none;
 * a last line without a newline counts as a line). Returns the offset in `buf` where the
 * lines start, or -1 (they start before this block) with the updated count.
 */
export function scanTail(buf: Buffer, tail: number, skipFinalNewline: boolean, seen: number): { offset: number; seen: number } {
  let count = seen;
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i] !== 0x0a) continue;
    if (skipFinalNewline && i === buf.length - 1) continue;
    count++;
    if (count === tail) return { offset: i + 1, seen: count };
  }
  return { offset: -1, seen: count };
}

async function readRange(fh: FileHandle, start: number, end: number): Promise<Buffer> {
  const len = Math.max(0, end - start);
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
