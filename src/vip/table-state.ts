/**
 * One nftables table as structured data, in the words of canonicalNftTable() (kernel/nft.ts):
 * chains with their canonical line and rule texts, sets and maps with their canonical head
 * and elements (key text -> data text). Pure: no I/O.
 *
 * The planner produces a state (with the declarations a transaction needs); a dump read
 * back from nft is turned into one by parsing its canonical text. Between two states:
 *   - canonicalOfState() is the text canonicalNftTable() prints for that table, line for
 *     line, so a plan compares with a dump by string equality;
 *   - rewriteScript() is the transaction that replaces the table as a whole;
 *   - diffStates() is the element-level transaction from one to the other, when the two
 *     differ only in elements and in chains only one of them has; anything else (a set's
 *     type, a base chain, a rule) needs a rewrite, and diffStates() says so.
 */

export interface StateChain {
  name: string;
  /** canonicalNftTable's line: `chain ip T NAME[ type nat hook output prio -100 policy accept]`. */
  line: string;
  /** Rule texts in order, as nft prints them back. */
  rules: string[];
  /** What follows the name in `add chain`: '' or `{ type nat hook output priority -100; policy accept; }`.
   * Only a planned state has it (a dump's chain can be deleted, not created). */
  decl?: string;
}

export interface StateSet {
  kind: 'set' | 'map';
  name: string;
  /** canonicalNftTable's head line: `map ip T NAME type A . B : C`. */
  head: string;
  /** The `{ ... }` body of `add map`/`add set` (planned states only). */
  decl?: string;
  /** Element key text -> data text ('' in a set). */
  elements: Map<string, string>;
}

export interface NftTableState {
  family: string;
  name: string;
  chains: Map<string, StateChain>;
  sets: Map<string, StateSet>;
}

/** An element-level change from one state to another. */
export interface TableDelta {
  /** Chains to create (with their rules) before any element is added. */
  chainsAdded: StateChain[];
  /** Chains to delete after every element change (nothing may still jump to them). */
  chainsDeleted: string[];
  /** Set name -> keys to delete (an element whose data changes is deleted, then added). */
  deletes: Map<string, string[]>;
  /** Set name -> [key, data] to add. */
  adds: Map<string, Array<[string, string]>>;
}

export function emptyDelta(): TableDelta {
  return { chainsAdded: [], chainsDeleted: [], deletes: new Map(), adds: new Map() };
}

export function deltaIsEmpty(d: TableDelta): boolean {
  return d.chainsAdded.length === 0 && d.chainsDeleted.length === 0 && d.deletes.size === 0 && d.adds.size === 0;
}

export function deltaCounts(d: TableDelta): { elementsAdded: number; elementsDeleted: number; chainsAdded: number; chainsDeleted: number } {
  let elementsAdded = 0;
  let elementsDeleted = 0;
  for (const v of d.adds.values()) elementsAdded += v.length;
  for (const v of d.deletes.values()) elementsDeleted += v.length;
  return { elementsAdded, elementsDeleted, chainsAdded: d.chainsAdded.length, chainsDeleted: d.chainsDeleted.length };
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function elementLine(key: string, data: string, kind: 'set' | 'map'): string {
  return kind === 'map' ? `  element ${key} : ${data}` : `  element ${key}`;
}

/** The canonical text of a state: what canonicalNftTable() prints for the same table. */
export function canonicalOfState(s: NftTableState): string {
  const lines = [`table ${s.family} ${s.name}`];
  for (const name of [...s.chains.keys()].sort(byName)) {
    const c = s.chains.get(name)!;
    lines.push(c.line);
    for (const r of c.rules) lines.push(`  rule ${r}`);
  }
  for (const name of [...s.sets.keys()].sort(byName)) {
    const set = s.sets.get(name)!;
    lines.push(set.head);
    const elems: string[] = [];
    for (const [k, v] of set.elements) elems.push(elementLine(k, v, set.kind));
    elems.sort();
    for (const e of elems) lines.push(e);
  }
  return lines.join('\n');
}

/**
 * Parses canonical text (canonicalNftTable's output for one table) back into a state, or
 * returns undefined when it is not the canonical text of one table.
 */
export function stateFromCanonical(text: string): NftTableState | undefined {
  const lines = text.split('\n');
  const head = /^table (\S+) (\S+)$/.exec(lines[0] ?? '');
  if (!head) return undefined;
  const state: NftTableState = { family: head[1]!, name: head[2]!, chains: new Map(), sets: new Map() };
  const prefix = `${state.family} ${state.name} `;
  let chain: StateChain | undefined;
  let set: StateSet | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('  rule ')) {
      if (!chain) return undefined;
      chain.rules.push(line.slice(7));
    } else if (line.startsWith('  element ')) {
      if (!set) return undefined;
      const body = line.slice(10);
      if (set.kind === 'map') {
        const colon = body.indexOf(' : ');
        if (colon < 0) return undefined;
        set.elements.set(body.slice(0, colon), body.slice(colon + 3));
      } else {
        set.elements.set(body, '');
      }
    } else if (line.startsWith(`chain ${prefix}`)) {
      const name = line.slice(6 + prefix.length).split(' ', 1)[0]!;
      chain = { name, line, rules: [] };
      set = undefined;
      state.chains.set(name, chain);
    } else if (line.startsWith(`map ${prefix}`) || line.startsWith(`set ${prefix}`)) {
      const kind = line.startsWith('map') ? 'map' : 'set';
      const name = line.slice(4 + prefix.length).split(' ', 1)[0]!;
      set = { kind, name, head: line, elements: new Map() };
      chain = undefined;
      state.sets.set(name, set);
    } else {
      return undefined;
    }
  }
  return state;
}

/** Elements per `add element` statement: nft loads 250,000 of them in 4.3 s in statements of
 * 1,000 and in 5.6 s as one statement (measured here, nft 1.0.6). */
export const ELEMENTS_PER_STATEMENT = 1000;

function pushElements(out: string[], verb: 'add' | 'delete', table: string, set: string, items: string[]): void {
  for (let i = 0; i < items.length; i += ELEMENTS_PER_STATEMENT) {
    out.push(`${verb} element ${table} ${set} { ${items.slice(i, i + ELEMENTS_PER_STATEMENT).join(', ')} }`);
  }
}

function chainStatements(out: string[], table: string, c: StateChain): void {
  if (c.decl === undefined) throw new TypeError(`chain ${c.name} has no declaration (a dump's chain cannot be created)`);
  out.push(`add chain ${table} ${c.name}${c.decl ? ` ${c.decl}` : ''}`);
}

/**
 * The transaction that replaces the table with `s` in one step: `add table` (so that the
 * `delete` cannot fail on a missing table: nft 1.0.6 has no `destroy`), `delete table`,
 * then sets, chains, rules and elements, in the order references need.
 */
export function rewriteScript(s: NftTableState): string {
  const t = `${s.family} ${s.name}`;
  const out = [`add table ${t}`, `delete table ${t}`, `add table ${t}`];
  const sets = [...s.sets.values()].sort((a, b) => byName(a.name, b.name));
  const chains = [...s.chains.values()].sort((a, b) => byName(a.name, b.name));
  for (const set of sets) {
    if (set.decl === undefined) throw new TypeError(`set ${set.name} has no declaration`);
    out.push(`add ${set.kind} ${t} ${set.name} ${set.decl}`);
  }
  for (const c of chains) chainStatements(out, t, c);
  for (const c of chains) for (const r of c.rules) out.push(`add rule ${t} ${c.name} ${r}`);
  for (const set of sets) {
    const items: string[] = [];
    for (const [k, v] of set.elements) items.push(set.kind === 'map' ? `${k} : ${v}` : k);
    items.sort();
    pushElements(out, 'add', t, set.name, items);
  }
  return `${out.join('\n')}\n`;
}

/**
 * The element-level change from `from` to `to`, or a reason why one cannot do: the table
 * lines, a set's head or the set list, or a chain both have differ.
 */
export function diffStates(from: NftTableState, to: NftTableState): TableDelta | { rewrite: string } {
  if (from.family !== to.family || from.name !== to.name) return { rewrite: 'another table' };
  for (const name of new Set([...from.sets.keys(), ...to.sets.keys()])) {
    const a = from.sets.get(name);
    const b = to.sets.get(name);
    if (!a || !b) return { rewrite: `${a ? 'extra' : 'missing'} set ${name}` };
    if (a.head !== b.head) return { rewrite: `set ${name} is declared differently` };
  }
  const delta = emptyDelta();
  for (const [name, b] of to.chains) {
    const a = from.chains.get(name);
    if (!a) {
      if (b.decl === undefined) return { rewrite: `chain ${name} cannot be created from a dump` };
      delta.chainsAdded.push(b);
    } else if (a.line !== b.line || a.rules.length !== b.rules.length || a.rules.some((r, i) => r !== b.rules[i])) {
      return { rewrite: `chain ${name} differs` };
    }
  }
  for (const name of from.chains.keys()) if (!to.chains.has(name)) delta.chainsDeleted.push(name);
  delta.chainsAdded.sort((a, b) => byName(a.name, b.name));
  delta.chainsDeleted.sort(byName);
  for (const name of [...to.sets.keys()].sort(byName)) {
    const a = from.sets.get(name)!;
    const b = to.sets.get(name)!;
    const dels: string[] = [];
    const adds: Array<[string, string]> = [];
    for (const [k, v] of a.elements) {
      const w = b.elements.get(k);
      if (w === undefined || w !== v) dels.push(k);
    }
    for (const [k, v] of b.elements) {
      if (a.elements.get(k) !== v) adds.push([k, v]);
    }
    if (dels.length > 0) delta.deletes.set(name, dels.sort());
    if (adds.length > 0)
      delta.adds.set(
        name,
        adds.sort((x, y) => byName(x[0], y[0])),
      );
  }
  return delta;
}

/**
 * The transaction of a delta on table `family name`: chains created (with their rules),
 * element deletes, element adds, chains deleted. No `table` statement: the table stays.
 * `kinds` tells sets from maps (a map element is written `key : data`).
 */
export function deltaScript(family: string, name: string, delta: TableDelta, kinds: ReadonlyMap<string, 'set' | 'map'>): string {
  const t = `${family} ${name}`;
  const out: string[] = [];
  for (const c of delta.chainsAdded) chainStatements(out, t, c);
  for (const c of delta.chainsAdded) for (const r of c.rules) out.push(`add rule ${t} ${c.name} ${r}`);
  for (const [set, keys] of delta.deletes) pushElements(out, 'delete', t, set, keys);
  for (const [set, items] of delta.adds) {
    const kind = kinds.get(set);
    pushElements(
      out,
      'add',
      t,
      set,
      items.map(([k, v]) => (kind === 'map' ? `${k} : ${v}` : k)),
    );
  }
  for (const c of delta.chainsDeleted) out.push(`delete chain ${t} ${c}`);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** Applies a delta to a state in place (after the transaction succeeded). */
export function applyDelta(s: NftTableState, delta: TableDelta): void {
  for (const c of delta.chainsAdded) s.chains.set(c.name, c);
  for (const [set, keys] of delta.deletes) {
    const e = s.sets.get(set)?.elements;
    if (e) for (const k of keys) e.delete(k);
  }
  for (const [set, items] of delta.adds) {
    const e = s.sets.get(set)?.elements;
    if (e) for (const [k, v] of items) e.set(k, v);
  }
  for (const c of delta.chainsDeleted) s.chains.delete(c);
}
