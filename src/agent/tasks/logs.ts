/**
 * Reading a task's log back: the whole file, or its last N lines read from the end in
 * blocks, so that `logs --tail 10` of a large log reads a few KiB, not the file.
 */
import { type FileHandle, open } from 'node:fs/promises';

/** Read size when scanning backwards for line ends. */
const BLOCK = 64 * 1024;

/** The last `tail` lines of the file at `path` (all of it when tail is undefined); empty when the file does not exist. */
export async function readTail(path: string, tail?: number): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    if (tail === undefined) return await readRange(fh, 0, size);
    if (tail <= 0 || size === 0) return Buffer.alloc(0);
    const last = await readRange(fh, size - 1, size);
    const endsWithNewline = last[0] === 0x0a;
    let end = size;
    let seen = 0;
    let first = true;
    while (end > 0) {
      const start = Math.max(0, end - BLOCK);
      const buf = await readRange(fh, start, end);
      const r = scanTail(buf, tail, endsWithNewline && first, seen);
      if (r.offset >= 0) return await readRange(fh, start + r.offset, size);
      seen = r.seen;
      end = start;
      first = false;
    }
    return await readRange(fh, 0, size);
  } finally {
    await fh.close();
  }
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
