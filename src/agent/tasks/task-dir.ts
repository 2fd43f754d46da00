/**
 * The runtime's directory (DATA-DIR/tasks) on disk: one subdirectory per task (record.ts
 * lists its files) and `.events`, where supervisors touch `<id>.started` and `<id>.exited`.
 * Every read here is of a small file and synchronous; a file that is not there reads as
 * undefined, a file that is there and wrong is SHOAL_ERR_TASK_RECORD.
 */
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs.ts';
import { taskError } from './errors.ts';
import type { HealthStatus } from './health.ts';
import { type ProcessSpec, parseNumberFile, parseRecord, serializeRecord, type TaskRecord } from './record.ts';

export const EVENTS_DIR = '.events';

export const TASK_FILES = {
  record: 'record.json',
  log: 'output.log',
  /** When the log grew: `SIZE MS` lines (log-times.ts). */
  times: 'output.times',
  pid: 'pid',
  exit: 'exit',
  health: 'health',
  resolvConf: 'resolv.conf',
  hosts: 'hosts',
} as const;

export type MarkerKind = 'started' | 'exited';

/** The task and kind a marker file names (`web1.exited`), or undefined for any other name. */
export function parseMarker(filename: string): { id: string; kind: MarkerKind } | undefined {
  const m = /^(.+)\.(started|exited)$/.exec(filename);
  return m ? { id: m[1]!, kind: m[2] as MarkerKind } : undefined;
}

export class TaskDir {
  readonly root: string;
  readonly eventsDir: string;

  constructor(root: string) {
    this.root = root;
    this.eventsDir = join(root, EVENTS_DIR);
  }

  path(id: string, file?: keyof typeof TASK_FILES): string {
    return file === undefined ? join(this.root, id) : join(this.root, id, TASK_FILES[file]);
  }

  /** What the supervisor touches: `<events>/<id>` + `.started` / `.exited`. */
  markerPrefix(id: string): string {
    return join(this.eventsDir, id);
  }

  ensureEventsDir(): void {
    mkdirSync(this.eventsDir, { recursive: true, mode: 0o700 });
  }

  /** The ids that have a directory, sorted; none when the runtime dir does not exist yet. */
  listIds(): string[] {
    try {
      return readdirSync(this.root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name)
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw taskError('SHOAL_ERR_TASK_RECORD', `cannot list ${this.root}: ${(err as Error).message}`, { dir: this.root }, err);
    }
  }

  exists(id: string): boolean {
    try {
      return statSync(this.path(id)).isDirectory();
    } catch {
      return false;
    }
  }

  readRecord(id: string): TaskRecord | undefined {
    const path = this.path(id, 'record');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw taskError('SHOAL_ERR_TASK_RECORD', `cannot read ${path}: ${(err as Error).message}`, { id }, err);
    }
    const record = parseRecord(text, path);
    if (record.spec.id !== id) throw taskError('SHOAL_ERR_TASK_RECORD', `${path} names task ${record.spec.id}`, { id });
    return record;
  }

  writeRecord(record: TaskRecord): void {
    const id = record.spec.id;
    try {
      writeFileAtomic(this.path(id, 'record'), serializeRecord(record));
    } catch (err) {
      throw taskError('SHOAL_ERR_TASK_RECORD', `cannot write the record of task ${id}: ${(err as Error).message}`, { id }, err);
    }
  }

  /** Best effort: a record left behind is overwritten by the next start. */
  removeRecord(id: string): void {
    try {
      rmSync(this.path(id, 'record'), { force: true });
    } catch {
      // the next start removes it
    }
  }

  readPid(id: string): number | undefined {
    return readNumber(this.path(id, 'pid'));
  }

  readExit(id: string): number | undefined {
    return readNumber(this.path(id, 'exit'));
  }

  readHealth(id: string): HealthStatus | undefined {
    try {
      const s = readFileSync(this.path(id, 'health'), 'utf8').trim();
      return s === 'starting' || s === 'healthy' || s === 'unhealthy' ? s : undefined;
    } catch {
      return undefined;
    }
  }

  writeHealth(id: string, status: HealthStatus): void {
    writeFileAtomic(this.path(id, 'health'), `${status}\n`);
  }

  /**
   * Readies a task's directory for a (new) start: the files of an earlier run removed (its
   * log kept, appended to), resolv.conf and hosts written; returns the log opened for
   * appending (the caller hands it to the process and closes it).
   */
  prepare(spec: ProcessSpec): number {
    const id = spec.id;
    try {
      mkdirSync(this.path(id), { recursive: true, mode: 0o700 });
      for (const f of ['record', 'pid', 'exit', 'health'] as const) rmSync(this.path(id, f), { force: true });
      this.removeMarkers(id);
      writeFileAtomic(this.path(id, 'resolvConf'), spec.resolvConf);
      writeFileAtomic(this.path(id, 'hosts'), spec.hosts);
      return openSync(this.path(id, 'log'), 'a', 0o640);
    } catch (err) {
      throw taskError('SHOAL_ERR_TASK_RECORD', `cannot prepare the directory of task ${id}: ${(err as Error).message}`, { id }, err);
    }
  }

  removeMarkers(id: string): void {
    for (const kind of ['started', 'exited']) {
      try {
        unlinkSync(`${this.markerPrefix(id)}.${kind}`);
      } catch {
        // absent
      }
    }
  }

  /** Removes a task's directory and markers; a missing one is success. */
  remove(id: string): void {
    try {
      rmSync(this.path(id), { recursive: true, force: true });
    } catch (err) {
      throw taskError('SHOAL_ERR_TASK_RECORD', `cannot remove the directory of task ${id}: ${(err as Error).message}`, { id }, err);
    }
    this.removeMarkers(id);
  }

  hasRecord(id: string): boolean {
    return existsSync(this.path(id, 'record'));
  }
}

function readNumber(path: string): number | undefined {
  try {
    return parseNumberFile(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}
