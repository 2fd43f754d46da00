/**
 * Interface names inside sandboxes, stable for each sandbox's life: a network attached to
 * a running task later gets the lowest free `eth<N>`, a network detached frees its name,
 * and no other interface is renamed (a rename would delete and re-create the veth: the
 * task's connections through it would break). A new sandbox gets eth0.. in attachment
 * order and then the egress interface, as Docker numbers them.
 *
 * Kept in DATA-DIR/ifnames.json, so an agent restarted over running tasks keeps their
 * names (and finds nothing to change).
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/fs.ts';

type Doc = Record<string, Record<string, string>>;

export class SandboxIfnames {
  private readonly bySandbox = new Map<string, Map<string, string>>();

  constructor(private readonly file: string | undefined) {
    if (!file) return;
    let doc: Doc;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8')) as Doc;
    } catch {
      return; // none yet, or unreadable: names are assigned afresh (in attachment order)
    }
    if (typeof doc !== 'object' || doc === null) return;
    for (const [sandbox, names] of Object.entries(doc)) {
      if (typeof names !== 'object' || names === null) continue;
      const m = new Map<string, string>();
      for (const [key, name] of Object.entries(names)) if (typeof name === 'string' && /^eth\d+$/.test(name)) m.set(key, name);
      this.bySandbox.set(sandbox, m);
    }
  }

  /**
   * The names of a sandbox's interfaces for `keys` (network ids in attachment order, then
   * dataplane-model's EGRESS_KEY when it has one): kept ones stay, new ones take the lowest free eth<N>,
   * keys no longer given are freed.
   */
  assign(sandbox: string, keys: readonly string[]): ReadonlyMap<string, string> {
    const prev = this.bySandbox.get(sandbox);
    const next = new Map<string, string>();
    const used = new Set<string>();
    for (const k of keys) {
      const name = prev?.get(k);
      if (name !== undefined && !used.has(name)) {
        next.set(k, name);
        used.add(name);
      }
    }
    let n = 0;
    for (const k of keys) {
      if (next.has(k)) continue;
      while (used.has(`eth${n}`)) n++;
      next.set(k, `eth${n}`);
      used.add(`eth${n}`);
    }
    const changed = !prev || prev.size !== next.size || [...next].some(([k, v]) => prev.get(k) !== v);
    this.bySandbox.set(sandbox, next);
    if (changed) this.save();
    return next;
  }

  /** Forgets every sandbox not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    let changed = false;
    for (const id of [...this.bySandbox.keys()]) {
      if (keep.has(id)) continue;
      this.bySandbox.delete(id);
      changed = true;
    }
    if (changed) this.save();
  }

  private save(): void {
    if (!this.file) return;
    const doc: Doc = {};
    for (const [sandbox, names] of this.bySandbox) doc[sandbox] = Object.fromEntries(names);
    writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`);
  }
}
