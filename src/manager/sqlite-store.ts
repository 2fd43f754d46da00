/**
 * The Store over an embedded SQLite file (better-sqlite3), the default backend.
 *
 * Layout: one table per kind (`obj_<kind>`: id, version, the object as JSON, one column per
 * single-valued index), one side table per multi-valued index (`mx_<kind>_<index>`), and
 * `meta` (the store revision). WAL mode: readers never block the writer and a commit is one
 * append to the log. `synchronous` is configurable: NORMAL (default) survives any crash of
 * the process (SIGKILL included) and keeps the file consistent after power loss, where the
 * last commits before the loss may be rolled back; FULL also fsyncs every commit (durable
 * across power loss, at a few milliseconds per mutation).
 *
 * Reads parse JSON on demand; nothing is loaded at open, so opening a store of 100k tasks
 * costs the same as opening an empty one.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { apiError } from '../api/errors.ts';
import { ShoalError } from '../common/errors.ts';
import { canonicalJson } from './store.ts';
import type {
  ChangeBatch,
  ChangeEvent,
  ChangeListener,
  DumpRedactor,
  IndexDef,
  ReadTx,
  Schema,
  Store,
  StoredObject,
  WriteTx,
} from './store.ts';

export interface SqliteStoreOptions {
  /** 'normal' (default): crash-safe, not power-loss-durable for the last commits; 'full': fsync per commit. */
  synchronous?: 'normal' | 'full';
  /** Called when a watch listener throws (the store keeps going). */
  onListenerError?: (err: unknown) => void;
  /** Open an existing store for reading only (dumps while a manager runs); no schema changes. */
  readonly?: boolean;
}

const SCHEMA_VERSION = '1';
const KIND_RE = /^[a-z][a-z0-9_]*$/;

interface KindStatements {
  get: Statement;
  put: Statement;
  del: Statement;
  all: Statement;
  count: Statement;
  prefix: Statement;
  single: Map<string, { by: Statement; ids: Statement; count: Statement; entries: Statement; counts: Statement }>;
  multi: Map<
    string,
    { by: Statement; ids: Statement; count: Statement; entries: Statement; counts: Statement; insert: Statement; clear: Statement }
  >;
  singleIndexes: IndexDef<unknown>[];
  multiIndexes: IndexDef<unknown>[];
}

export class SqliteStore<M extends { [K in keyof M]: StoredObject }> implements Store<M> {
  private readonly db: Db;
  private readonly kinds = new Map<string, KindStatements>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly onListenerError: (err: unknown) => void;
  private readonly setRevision: Statement;
  private rev: number;
  private inUpdate = false;
  private closed = false;
  private readonly readonly: boolean;

  constructor(path: string, schema: Schema<M>, options: SqliteStoreOptions = {}) {
    this.readonly = options.readonly === true;
    try {
      this.db = this.readonly ? new Database(path, { readonly: true, fileMustExist: true }) : new Database(path);
      if (!this.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      }
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('cache_size = -65536');
      if (!this.readonly) this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      const version = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as string | undefined;
      if (version !== undefined && version !== SCHEMA_VERSION) {
        throw apiError('SHOAL_ERR_STORE', `store ${path} has schema version ${version}; this manager reads ${SCHEMA_VERSION}`);
      }
      if (!this.readonly) this.db.exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '${SCHEMA_VERSION}'), ('revision', '0')`);
      for (const kind of Object.keys(schema) as (keyof M & string)[])
        this.prepareKind(kind, schema[kind].indexes as readonly IndexDef<unknown>[]);
      this.setRevision = this.db.prepare("UPDATE meta SET value = ? WHERE key = 'revision'");
      this.rev = Number(this.db.prepare("SELECT value FROM meta WHERE key = 'revision'").pluck().get());
    } catch (err) {
      if (err instanceof ShoalError) throw err;
      throw apiError('SHOAL_ERR_STORE', `cannot open store ${path}: ${(err as Error).message}`, { path }, err);
    }
    this.onListenerError = options.onListenerError ?? (() => {});
  }

  private ddl(sql: string): void {
    if (!this.readonly) this.db.exec(sql);
  }

  private prepareKind(kind: string, indexes: readonly IndexDef<unknown>[]): void {
    if (!KIND_RE.test(kind)) throw apiError('SHOAL_ERR_STORE', `bad kind name ${kind}`);
    const t = `obj_${kind}`;
    const single = indexes.filter((i) => !i.multi);
    const multi = indexes.filter((i) => i.multi);
    for (const i of indexes) if (!KIND_RE.test(i.name)) throw apiError('SHOAL_ERR_STORE', `bad index name ${i.name}`);
    const cols = single.map((i) => `ix_${i.name} TEXT`).join(', ');
    this.ddl(
      `CREATE TABLE IF NOT EXISTS ${t} (id TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL${cols ? `, ${cols}` : ''})`,
    );
    // an index declared after the table was made: add its column or side table and fill it
    const added: IndexDef<unknown>[] = [];
    if (!this.readonly) {
      const existing = new Set((this.db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name));
      for (const i of single) {
        if (!existing.has(`ix_${i.name}`)) {
          this.db.exec(`ALTER TABLE ${t} ADD COLUMN ix_${i.name} TEXT`);
          added.push(i);
        }
      }
      for (const i of multi) {
        const present = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(`mx_${kind}_${i.name}`);
        if (!present) added.push(i);
      }
    }
    for (const i of single) {
      this.ddl(`CREATE ${i.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${t}_${i.name} ON ${t} (ix_${i.name})`);
    }
    for (const i of multi) {
      const mx = `mx_${kind}_${i.name}`;
      this.ddl(`CREATE TABLE IF NOT EXISTS ${mx} (value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (value, id)) WITHOUT ROWID`);
      this.ddl(`CREATE ${i.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${mx}_id ON ${mx} (${i.unique ? 'value' : 'id'})`);
      if (i.unique) this.ddl(`CREATE INDEX IF NOT EXISTS ${mx}_byid ON ${mx} (id)`);
    }
    const colNames = single.map((i) => `ix_${i.name}`);
    const placeholders = ['?', '?', '?', ...colNames.map(() => '?')].join(', ');
    const updates = ['version = excluded.version', 'body = excluded.body', ...colNames.map((c) => `${c} = excluded.${c}`)].join(', ');
    const stmts: KindStatements = {
      get: this.db.prepare(`SELECT body FROM ${t} WHERE id = ?`).pluck(),
      put: this.db.prepare(
        `INSERT INTO ${t} (id, version, body${colNames.map((c) => `, ${c}`).join('')}) VALUES (${placeholders}) ON CONFLICT(id) DO UPDATE SET ${updates}`,
      ),
      del: this.db.prepare(`DELETE FROM ${t} WHERE id = ?`),
      all: this.db.prepare(`SELECT body FROM ${t} ORDER BY id`).pluck(),
      count: this.db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck(),
      prefix: this.db.prepare(`SELECT id FROM ${t} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`).pluck(),
      single: new Map(),
      multi: new Map(),
      singleIndexes: single,
      multiIndexes: multi,
    };
    for (const i of single) {
      stmts.single.set(i.name, {
        by: this.db.prepare(`SELECT body FROM ${t} WHERE ix_${i.name} = ? ORDER BY id`).pluck(),
        ids: this.db.prepare(`SELECT id FROM ${t} WHERE ix_${i.name} = ? ORDER BY id`).pluck(),
        entries: this.db.prepare(`SELECT ix_${i.name}, id FROM ${t} WHERE ix_${i.name} IS NOT NULL ORDER BY ix_${i.name}, id`).raw(),
        counts: this.db.prepare(`SELECT ix_${i.name}, COUNT(*) FROM ${t} WHERE ix_${i.name} IS NOT NULL GROUP BY ix_${i.name}`).raw(),
        count: this.db.prepare(`SELECT COUNT(*) FROM ${t} WHERE ix_${i.name} = ?`).pluck(),
      });
    }
    for (const i of multi) {
      const mx = `mx_${kind}_${i.name}`;
      stmts.multi.set(i.name, {
        by: this.db.prepare(`SELECT o.body FROM ${mx} x JOIN ${t} o ON o.id = x.id WHERE x.value = ? ORDER BY x.id`).pluck(),
        ids: this.db.prepare(`SELECT id FROM ${mx} WHERE value = ? ORDER BY id`).pluck(),
        entries: this.db.prepare(`SELECT value, id FROM ${mx} ORDER BY value, id`).raw(),
        counts: this.db.prepare(`SELECT value, COUNT(*) FROM ${mx} GROUP BY value`).raw(),
        count: this.db.prepare(`SELECT COUNT(*) FROM ${mx} WHERE value = ?`).pluck(),
        insert: this.db.prepare(`INSERT INTO ${mx} (value, id) VALUES (?, ?)`),
        clear: this.db.prepare(`DELETE FROM ${mx} WHERE id = ?`),
      });
    }
    this.kinds.set(kind, stmts);
    if (added.length > 0) this.backfill(kind, t, added);
  }

  /** Computes newly declared indexes for every stored object of a kind (one transaction). */
  private backfill(kind: string, table: string, indexes: IndexDef<unknown>[]): void {
    const rows = this.db.prepare(`SELECT id, body FROM ${table}`).raw().all() as [string, string][];
    this.db.transaction(() => {
      for (const i of indexes) {
        if (i.multi) {
          const insert = this.db.prepare(`INSERT OR IGNORE INTO mx_${kind}_${i.name} (value, id) VALUES (?, ?)`);
          for (const [id, body] of rows) for (const v of new Set(i.values(JSON.parse(body)))) if (v !== '') insert.run(v, id);
        } else {
          const set = this.db.prepare(`UPDATE ${table} SET ix_${i.name} = ? WHERE id = ?`);
          for (const [id, body] of rows) set.run(i.values(JSON.parse(body))[0] ?? null, id);
        }
      }
    })();
  }

  private k(kind: string): KindStatements {
    const s = this.kinds.get(kind);
    if (!s) throw apiError('SHOAL_ERR_STORE', `unknown kind ${kind}`);
    return s;
  }

  private makeReadTx(): ReadTx<M> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      get revision() {
        return self.rev;
      },
      get: (kind, id) => {
        const body = this.k(kind).get.get(id) as string | undefined;
        return body === undefined ? undefined : (JSON.parse(body) as never);
      },
      byIndex: (kind, index, value) => {
        const s = this.k(kind);
        const stmt = s.single.get(index)?.by ?? s.multi.get(index)?.by;
        if (!stmt) throw apiError('SHOAL_ERR_STORE', `kind ${kind} has no index ${index}`);
        return (stmt.all(value) as string[]).map((b) => JSON.parse(b) as never);
      },
      idsByIndex: (kind, index, value) => {
        const s = this.k(kind);
        const stmt = s.single.get(index)?.ids ?? s.multi.get(index)?.ids;
        if (!stmt) throw apiError('SHOAL_ERR_STORE', `kind ${kind} has no index ${index}`);
        return stmt.all(value) as string[];
      },
      countsByIndex: (kind, index) => {
        const s = this.k(kind);
        const stmt = s.single.get(index)?.counts ?? s.multi.get(index)?.counts;
        if (!stmt) throw apiError('SHOAL_ERR_STORE', `kind ${kind} has no index ${index}`);
        return new Map((stmt.all() as [string, number][]).map(([v, n]) => [v, Number(n)]));
      },
      indexEntries: (kind, index) => {
        const s = this.k(kind);
        const stmt = s.single.get(index)?.entries ?? s.multi.get(index)?.entries;
        if (!stmt) throw apiError('SHOAL_ERR_STORE', `kind ${kind} has no index ${index}`);
        return stmt.all() as [string, string][];
      },
      countByIndex: (kind, index, value) => {
        const s = this.k(kind);
        const stmt = s.single.get(index)?.count ?? s.multi.get(index)?.count;
        if (!stmt) throw apiError('SHOAL_ERR_STORE', `kind ${kind} has no index ${index}`);
        return Number(stmt.get(value));
      },
      all: (kind) => (this.k(kind).all.all() as string[]).map((b) => JSON.parse(b) as never),
      count: (kind) => Number(this.k(kind).count.get()),
      idsWithPrefix: (kind, prefix, limit) => this.k(kind).prefix.all(prefix, `${prefix}\uffff`, limit) as string[],
    };
  }

  revision(): number {
    return this.rev;
  }

  view<T>(fn: (tx: ReadTx<M>) => T): T {
    this.assertOpen();
    return fn(this.makeReadTx());
  }

  update<T>(fn: (tx: WriteTx<M>) => T): Promise<T> {
    try {
      return Promise.resolve(this.updateSync(fn));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The synchronous form of update (SQLite commits synchronously). */
  updateSync<T>(fn: (tx: WriteTx<M>) => T): T {
    this.assertOpen();
    if (this.inUpdate) throw apiError('SHOAL_ERR_STORE', 'store.update called inside a transaction');
    const nextRev = this.rev + 1;
    const events: ChangeEvent[] = [];
    const commitHooks: (() => void)[] = [];
    const rollbackHooks: (() => void)[] = [];
    const read = this.makeReadTx();
    const tx: WriteTx<M> = {
      ...read,
      get revision() {
        return nextRev - 1;
      },
      put: (kind, obj) => {
        const s = this.k(kind);
        obj.version = nextRev;
        const args: unknown[] = [obj.id, nextRev, JSON.stringify(obj)];
        for (const i of s.singleIndexes) {
          const v = i.values(obj)[0];
          args.push(v === undefined ? null : v);
        }
        try {
          s.put.run(...args);
          for (const i of s.multiIndexes) {
            const m = s.multi.get(i.name)!;
            m.clear.run(obj.id);
            for (const v of new Set(i.values(obj))) if (v !== '') m.insert.run(v, obj.id);
          }
        } catch (err) {
          throw translateSqliteError(err, kind, obj.id);
        }
        events.push({ kind, id: obj.id, op: 'put', object: obj });
        return obj;
      },
      delete: (kind, id) => {
        const s = this.k(kind);
        const changed = s.del.run(id).changes > 0;
        if (changed) {
          for (const i of s.multiIndexes) s.multi.get(i.name)!.clear.run(id);
          events.push({ kind, id, op: 'delete' });
        }
        return changed;
      },
      onCommit: (hook) => {
        commitHooks.push(hook);
      },
      onRollback: (hook) => {
        rollbackHooks.push(hook);
      },
    };
    this.inUpdate = true;
    let result: T;
    try {
      result = this.db
        .transaction(() => {
          const r = fn(tx);
          if (events.length > 0) this.setRevision.run(String(nextRev));
          return r;
        })
        .immediate();
    } catch (err) {
      this.inUpdate = false;
      for (const hook of rollbackHooks) hook();
      throw err;
    }
    this.inUpdate = false;
    if (events.length > 0) this.rev = nextRev;
    for (const hook of commitHooks) hook();
    if (events.length > 0) {
      const batch: ChangeBatch = { revision: nextRev, events };
      for (const l of this.listeners) {
        try {
          l(batch);
        } catch (err) {
          this.onListenerError(err);
        }
      }
    }
    return result;
  }

  watch(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dump(redact?: DumpRedactor): string {
    this.assertOpen();
    // one read transaction: a consistent snapshot even while another process writes
    return this.db.transaction(() => {
      const rev = Number(this.db.prepare("SELECT value FROM meta WHERE key = 'revision'").pluck().get());
      const lines = [`revision ${rev}`];
      for (const kind of [...this.kinds.keys()].sort()) {
        for (const body of this.k(kind).all.iterate() as IterableIterator<string>) {
          let obj = JSON.parse(body) as Record<string, unknown>;
          if (redact) obj = redact(kind, obj);
          lines.push(`${kind} ${String(obj['id'])} ${canonicalJson(obj)}`);
        }
      }
      return `${lines.join('\n')}\n`;
    })();
  }

  /** Writes the WAL into the main file (cheap restarts; called on graceful close). */
  checkpoint(): void {
    if (!this.closed && !this.readonly) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    if (this.closed) return;
    try {
      this.checkpoint();
    } catch {
      // a failed checkpoint leaves the WAL in place; the next open replays it
    }
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ShoalError('SHOAL_ERR_CLOSED', 'store is closed');
  }
}

function translateSqliteError(err: unknown, kind: string, id: string): ShoalError {
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new ShoalError('SHOAL_ERR_ALREADY_EXISTS', `${kind} ${id}: a unique value is already taken (${(err as Error).message})`, {
      cause: err,
      details: { kind, id },
    });
  }
  return apiError('SHOAL_ERR_STORE', `store write of ${kind} ${id} failed: ${(err as Error).message}`, { kind, id }, err);
}
