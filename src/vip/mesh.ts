/**
 * Keeps whole nftables tables (the routing mesh's host and ingress-sandbox tables,
 * mesh-plan.ts) equal to their plans, in any namespace.
 *
 * These tables are small (one rule per protocol and published port), so a change is one
 * transaction that replaces the table whole, atomically: no packet meets a half-built
 * table, and established connections keep their NAT (conntrack holds it). An incremental
 * sync runs nft only for a table whose plan changed since its last success; a full sync
 * reads every table back and rewrites one only when its canonical text differs, so a
 * restart leaves tables that are right untouched.
 */
import { asShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import { canonicalNftTable } from '../kernel/nft.ts';
import { withExprText } from '../kernel/nft-expr-text.ts';
import type { Nft } from '../kernel/types.ts';
import { doctorLines } from './apply.ts';
import type { PlannedTable } from './mesh-plan.ts';

/** One table that must be as planned, or absent (table undefined). */
export interface WantedTable {
  /** '' = the agent's own (host) namespace. */
  netns: string;
  name: string;
  table: PlannedTable | undefined;
}

export interface TableFailure {
  netns: string;
  name: string;
  code: string;
  message: string;
}

export interface TableDrift {
  netns: string;
  name: string;
  /** `missing`, `unwanted` or `differs`. */
  kind: 'missing' | 'unwanted' | 'differs';
  /** What differs, one `+ LINE` (lacking) or `- LINE` (extra) per rule, element or header (apply.ts doctorLines). */
  lines: string[];
}

function key(netns: string, name: string): string {
  return `${netns}\u0000${name}`;
}

export class WholeTables {
  readonly #nftFor: (netns: string) => Nft;
  readonly #logger: Logger;
  /** What each table held after its last successful sync: canonical text, or '' = absent. */
  readonly #known = new Map<string, string>();

  constructor(nftFor: (netns: string) => Nft, logger: Logger = silentLogger) {
    this.#nftFor = nftFor;
    this.#logger = logger;
  }

  /** Brings every wanted table to its plan; returns what could not be applied. */
  async sync(wanted: readonly WantedTable[], full: boolean): Promise<TableFailure[]> {
    const failures: TableFailure[] = [];
    for (const w of wanted) {
      const k = key(w.netns, w.name);
      const want = w.table?.canonical ?? '';
      if (!full && this.#known.get(k) === want) continue;
      try {
        const nft = this.#nftFor(w.netns);
        const dump = await nft.listTable('ip', w.name);
        const have = dump ? canonicalNftTable(withExprText(dump.json)) : '';
        if (have !== want) {
          if (w.table) await nft.apply(w.table.script);
          else await nft.deleteTable('ip', w.name);
          this.#logger.info(
            { netns: w.netns || '(host)', table: w.name, action: w.table ? (have ? 'replaced' : 'created') : 'deleted' },
            'mesh table',
          );
        }
        this.#known.set(k, want);
      } catch (err) {
        const e = asShoalError(err);
        this.#known.delete(k);
        failures.push({ netns: w.netns, name: w.name, code: e.code, message: e.message });
      }
    }
    return failures;
  }

  /** Forgets a namespace's tables (its namespace is gone: nothing to delete). */
  forget(netns: string): void {
    for (const k of [...this.#known.keys()]) if (k.startsWith(`${netns}\u0000`)) this.#known.delete(k);
  }

  /** What a full sync would change, read from the kernel; nothing when every table is right. */
  async doctor(wanted: readonly WantedTable[]): Promise<TableDrift[]> {
    const out: TableDrift[] = [];
    for (const w of wanted) {
      const dump = await this.#nftFor(w.netns).listTable('ip', w.name);
      const have = dump ? canonicalNftTable(withExprText(dump.json)) : '';
      const want = w.table?.canonical ?? '';
      if (have === want) continue;
      const kind = have === '' ? 'missing' : want === '' ? 'unwanted' : 'differs';
      const lines = want === '' ? [`- table ip ${w.name}`] : doctorLines(w.name, want, have === '' ? undefined : have);
      out.push({ netns: w.netns, name: w.name, kind, lines });
    }
    return out;
  }
}
