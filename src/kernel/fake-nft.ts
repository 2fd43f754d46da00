/**
 * FakeNft: nftables in memory, for unit tests of everything that programs nft.
 *
 * It is transactional like the kernel: apply() runs the statements in order on a copy of
 * the ruleset and keeps the copy only if every statement succeeded, so a failed
 * transaction changes nothing. listTable() returns JSON in the shape `nft -j list table`
 * prints (table, sets and maps with typed elements, chains), so code that reads elements
 * back works the same on both. canonicalNftTable() (nft.ts) turns either dump into the same
 * text; test/kernel/nft.test.ts runs one script against FakeNft and the real kernel.
 *
 * It understands the subset of nft's language that shoal generates, and rejects anything
 * else with SHOAL_ERR_NFT naming the line, so a generator that leaves the subset is caught
 * by unit tests rather than in production. The script syntax (tokens, comments, strings,
 * statements, brace bodies) is read by nft-script.ts and element values by
 * nft-element-values.ts; this file holds the ruleset, what each statement does to it, and
 * the dump:
 *   add|create|delete|flush table [FAMILY] NAME
 *   add|create chain [FAMILY] TABLE NAME [{ type T hook H priority P; [policy accept|drop;] }]
 *   delete|flush chain [FAMILY] TABLE NAME
 *   add rule [FAMILY] TABLE CHAIN <rule>           (rule text kept verbatim, see below)
 *   add|create set|map [FAMILY] TABLE NAME { type|typeof ...; [flags interval;] }
 *   delete|flush set|map [FAMILY] TABLE NAME
 *   add|create|delete element [FAMILY] TABLE SET { k [: v], ... }
 *   # comments, blank lines, several statements on a line separated by ';'
 * Families: ip, ip6, inet. Element types: ipv4_addr, ipv6_addr, inet_proto, inet_service,
 * mark, integer (typeof numgen), ether_addr, ifname, verdict, and concatenations of them;
 * `flags interval` on single-type IPv4/IPv6 keys (prefixes and ranges, overlap refused).
 * `destroy` is not accepted: nft 1.0.6 does not have it.
 * JSON transactions are not supported by the fake: apply() rejects them (SHOAL_ERR_NFT).
 *
 * Rules are not parsed. The fake stores each rule's text (whitespace collapsed) and checks
 * only what the kernel would refuse at load time that a planner can get wrong: the chain
 * exists, every `@set` it names exists, every `jump`/`goto` target exists. In listTable()
 * a rule is `{ rule: { family, table, chain, handle, text } }` where nft has `expr`.
 * So that dumps compare, write rules in the form nft prints them back (`counter`,
 * `meta mark 0x00000001`, `ct state established,related`); conformance tests do.
 *
 * Kernel semantics kept (each checked against nft 1.0.6 / kernel 6.18): `add` of an
 * existing table, chain, set or element is success, `create` is EEXIST; a map element
 * added again with other data is EEXIST; deleting a missing object or element is ENOENT;
 * deleting a chain referenced by a rule or a map element, or a set referenced by a rule,
 * is EBUSY; deleting a chain deletes its rules; `flush table` removes rules and keeps set
 * elements; changing a base chain's type is EEXIST and its hook or priority EOPNOTSUPP;
 * named priorities `dstnat` only on prerouting and `srcnat` only on postrouting.
 */
import { ShoalError } from '../common/errors.ts';
import { canonicalNftTable } from './nft.ts';
import { ELEMENT_TYPES, parseElementValue, typeofType, type ParsedValue } from './nft-element-values.ts';
import { ParseError, braceBody, braceList, clauses, splitStatements, type Statement, type Token } from './nft-script.ts';
import type { Nft, NftTableDump } from './types.ts';

// ---------------------------------------------------------------------------------------
// State

interface FakeRule {
  handle: number;
  text: string;
  sets: string[];
  chains: string[];
}

interface BaseChain {
  type: string;
  hook: string;
  prio: number;
  policy: 'accept' | 'drop';
}

interface FakeChain {
  name: string;
  handle: number;
  base: BaseChain | undefined;
  rules: FakeRule[];
}

interface FakeElement {
  key: unknown;
  data?: unknown;
  /** Chain a verdict map element jumps to (a reference, like a rule's jump). */
  chainRef?: string;
  /** Closed interval of an interval-set element. */
  interval?: [bigint, bigint];
}

interface FakeSet {
  kind: 'set' | 'map';
  name: string;
  handle: number;
  keyTypes: string[];
  dataTypes: string[] | undefined;
  flags: string[];
  /** Element identity (canonical key text) -> element. */
  elements: Map<string, FakeElement>;
}

interface FakeTable {
  family: string;
  name: string;
  handle: number;
  nextHandle: number;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

interface State {
  tables: Map<string, FakeTable>;
  nextTableHandle: number;
  /** Tables of a transaction in progress that are already private copies. */
  owned?: Set<string>;
}

const FAMILIES = new Set(['ip', 'ip6', 'inet']);
const UNSUPPORTED_FAMILIES = new Set(['arp', 'bridge', 'netdev']);

/** A table copy for a transaction. Rules and elements are never changed in place (only
 * added, replaced or removed), so the copy shares them; everything that is changed in
 * place (chains' rule lists and policy, sets' element maps) is copied. */
function cloneTable(t: FakeTable): FakeTable {
  return {
    ...t,
    chains: new Map([...t.chains].map(([k, c]) => [k, { ...c, base: c.base ? { ...c.base } : undefined, rules: [...c.rules] }])),
    sets: new Map([...t.sets].map(([k, set]) => [k, { ...set, elements: new Map(set.elements) }])),
  };
}

// ---------------------------------------------------------------------------------------
// Priorities

const NAMED_PRIORITIES: Record<string, { value: number; hooks?: string[] }> = {
  raw: { value: -300 },
  mangle: { value: -150 },
  dstnat: { value: -100, hooks: ['prerouting'] },
  filter: { value: 0 },
  security: { value: 50 },
  srcnat: { value: 100, hooks: ['postrouting'] },
};

const HOOKS_BY_TYPE: Record<string, string[]> = {
  filter: ['prerouting', 'input', 'forward', 'output', 'postrouting'],
  nat: ['prerouting', 'input', 'output', 'postrouting'],
  route: ['output'],
};

// ---------------------------------------------------------------------------------------
// The fake

export interface FakeNftOptions {
  /** Name of the namespace this fake stands for, shown in messages. */
  netns?: string;
}

export class FakeNft implements Nft {
  readonly netns: string;
  #state: State = { tables: new Map(), nextTableHandle: 1 };
  #failures: ShoalError[] = [];
  /** Every transaction that applied, in order (the text as given). */
  readonly applied: string[] = [];
  /** Number of apply() calls, successful or not. */
  applyCalls = 0;

  constructor(options: FakeNftOptions = {}) {
    this.netns = options.netns ?? 'fake';
  }

  /** Makes the next apply() fail with `error` (default: an EBUSY-like SHOAL_ERR_NFT) and change nothing. */
  failNextApply(error?: ShoalError): void {
    this.#failures.push(
      error ??
        new ShoalError('SHOAL_ERR_NFT', 'injected nft failure: Could not process rule: Device or resource busy', {
          errno: 'EBUSY',
          details: { injected: true },
        }),
    );
  }

  async apply(tx: string | { nftables: unknown[] }): Promise<void> {
    this.applyCalls++;
    if (typeof tx !== 'string') {
      throw new ShoalError('SHOAL_ERR_NFT', 'FakeNft accepts nft script text only; JSON transactions are outside its subset', {
        details: { netns: this.netns, unsupported: 'json' },
      });
    }
    const injected = this.#failures.shift();
    if (injected) throw injected;
    let statements: Statement[];
    try {
      statements = splitStatements(tx);
    } catch (err) {
      throw this.#error(err, undefined);
    }
    // Copy on write: a table is cloned the first time a statement touches it, so a small
    // transaction on a large ruleset stays cheap and a failed one leaves the original.
    const next: State = { tables: new Map(this.#state.tables), nextTableHandle: this.#state.nextTableHandle, owned: new Set() };
    for (const st of statements) {
      try {
        this.#execute(next, st);
      } catch (err) {
        throw this.#error(err, st);
      }
    }
    delete next.owned;
    this.#state = next;
    this.applied.push(tx);
  }

  async listTable(family: string, name: string): Promise<NftTableDump | undefined> {
    const t = this.#state.tables.get(`${family} ${name}`);
    return t ? { family, name, json: structuredClone(tableJson(t)) } : undefined;
  }

  async deleteTable(family: string, name: string): Promise<boolean> {
    return this.#state.tables.delete(`${family} ${name}`);
  }

  async listTables(): Promise<Array<{ family: string; name: string }>> {
    return [...this.#state.tables.values()].map((t) => ({ family: t.family, name: t.name }));
  }

  /** canonicalNftTable() of every table, tables sorted: the fake's comparable dump. */
  dump(): string {
    return [...this.#state.tables.values()]
      .sort((a, b) => (`${a.family} ${a.name}` < `${b.family} ${b.name}` ? -1 : 1))
      .map((t) => canonicalNftTable(tableJson(t)))
      .join('\n');
  }

  #error(err: unknown, st: Statement | undefined): ShoalError {
    if (err instanceof ShoalError) return err;
    const line = err instanceof ParseError && err.line > 0 ? err.line : (st?.line ?? 0);
    const errno = err instanceof ParseError ? err.errno : undefined;
    const msg = err instanceof Error ? err.message : String(err);
    return new ShoalError('SHOAL_ERR_NFT', `nft transaction failed: line ${line}: ${msg}${st ? `\n${st.source}` : ''}`, {
      details: { netns: this.netns, line, ...(st ? { statement: st.source } : {}), fake: true },
      ...(errno ? { errno } : {}),
    });
  }

  // -------------------------------------------------------------------------------------
  // Statements

  #execute(s: State, st: Statement): void {
    const words = st.tokens;
    const w = (i: number): string | undefined => (words[i]?.kind === 'word' ? words[i]!.text : undefined);
    const verb = w(0);
    const object = w(1);
    const fail = (msg: string, errno?: string): never => {
      throw new ParseError(st.line, msg, errno);
    };
    if (verb === 'destroy') fail('"destroy" is not supported by nft 1.0.6');
    if (verb === undefined || !['add', 'create', 'delete', 'flush'].includes(verb)) {
      fail(`statement is outside the subset FakeNft understands (${JSON.stringify(words[0]?.text ?? '')})`);
    }
    if (object === undefined || !['table', 'chain', 'rule', 'set', 'map', 'element'].includes(object)) {
      fail(`statement is outside the subset FakeNft understands (${verb} ${JSON.stringify(words[1]?.text ?? '')})`);
    }
    // [family] table [name]
    let i = 2;
    let family = 'ip';
    const maybeFamily = w(i);
    if (maybeFamily !== undefined && (FAMILIES.has(maybeFamily) || UNSUPPORTED_FAMILIES.has(maybeFamily))) {
      if (UNSUPPORTED_FAMILIES.has(maybeFamily)) fail(`family ${maybeFamily} is outside the subset FakeNft understands`);
      family = maybeFamily;
      i++;
    }
    const tableName = w(i++);
    if (tableName === undefined) fail('syntax error: table name expected');
    const key = `${family} ${tableName}`;
    let existing = s.tables.get(key);
    if (existing && !s.owned?.has(key)) {
      existing = cloneTable(existing);
      s.tables.set(key, existing);
      s.owned?.add(key);
    }

    if (object === 'table') {
      if (words.length > i) fail('table options are outside the subset FakeNft understands');
      switch (verb) {
        case 'add':
        case 'create':
          if (existing) {
            if (verb === 'create') fail(`table ${key}: File exists`, 'EEXIST');
            return;
          }
          s.tables.set(key, { family, name: tableName!, handle: s.nextTableHandle++, nextHandle: 1, chains: new Map(), sets: new Map() });
          s.owned?.add(key);
          return;
        case 'delete':
          if (!existing) fail(`table ${key}: No such file or directory`, 'ENOENT');
          s.tables.delete(key);
          return;
        case 'flush':
          if (!existing) fail(`table ${key}: No such file or directory`, 'ENOENT');
          for (const c of existing!.chains.values()) c.rules = [];
          return;
      }
    }

    const table = existing ?? fail(`table ${key}: No such file or directory`, 'ENOENT');
    const name = w(i++) ?? fail(`syntax error: ${object} name expected`);

    switch (object) {
      case 'chain':
        this.#chain(table, verb!, name, words.slice(i), fail);
        return;
      case 'rule': {
        if (verb !== 'add') fail(`${verb} rule is outside the subset FakeNft understands`);
        const chain = table.chains.get(name) ?? fail(`chain ${name}: No such file or directory`, 'ENOENT');
        const ruleTokens = words.slice(i);
        if (ruleTokens.length === 0) fail('syntax error: empty rule');
        const text = st.source
          .slice(ruleTokens[0]!.start - words[0]!.start)
          .replace(/\s+/g, ' ')
          .trim();
        const sets: string[] = [];
        const chains: string[] = [];
        ruleTokens.forEach((t, k) => {
          if (t.kind === 'word' && t.text.startsWith('@')) sets.push(t.text.slice(1));
          if (t.kind === 'word' && (t.text === 'jump' || t.text === 'goto')) {
            const target = ruleTokens[k + 1];
            if (target?.kind === 'word') chains.push(target.text);
          }
        });
        for (const set of sets) if (!table.sets.has(set)) fail(`set ${set}: No such file or directory`, 'ENOENT');
        for (const c of chains) if (!table.chains.has(c)) fail(`chain ${c}: No such file or directory`, 'ENOENT');
        chain.rules.push({ handle: table.nextHandle++, text, sets, chains });
        return;
      }
      case 'set':
      case 'map':
        this.#set(table, verb!, object, name, words.slice(i), fail);
        return;
      case 'element':
        this.#elements(table, verb!, name, words.slice(i), fail);
        return;
    }
  }

  #chain(table: FakeTable, verb: string, name: string, rest: Token[], fail: (m: string, e?: string) => never): void {
    const chain = table.chains.get(name);
    if (verb === 'delete' || verb === 'flush') {
      if (rest.length > 0) fail('syntax error: unexpected text after chain name');
      if (!chain) fail(`chain ${name}: No such file or directory`, 'ENOENT');
      if (verb === 'flush') {
        chain!.rules = [];
        return;
      }
      const usedByRule = [...table.chains.values()].some((c) => c.name !== name && c.rules.some((r) => r.chains.includes(name)));
      const usedByElement = [...table.sets.values()].some((set) => [...set.elements.values()].some((e) => e.chainRef === name));
      if (usedByRule || usedByElement) fail(`chain ${name} is in use: Device or resource busy`, 'EBUSY');
      table.chains.delete(name);
      return;
    }
    // add / create
    const spec = rest.length === 0 ? undefined : parseChainSpec(rest, fail);
    if (chain) {
      if (verb === 'create') fail(`chain ${name}: File exists`, 'EEXIST');
      if (!spec) return;
      if (!spec.base) {
        if (spec.policy !== undefined) {
          if (!chain.base) fail(`policy on a regular chain: Operation not supported`, 'EOPNOTSUPP');
          chain.base!.policy = spec.policy;
        }
        return;
      }
      if (!chain.base || chain.base.type !== spec.base.type) fail(`chain ${name}: File exists`, 'EEXIST');
      if (chain.base!.hook !== spec.base.hook || chain.base!.prio !== spec.base.prio)
        fail(`chain ${name} cannot change hook or priority: Operation not supported`, 'EOPNOTSUPP');
      if (spec.policy !== undefined) chain.base!.policy = spec.policy;
      return;
    }
    if (spec && !spec.base && spec.policy !== undefined) fail(`policy on a regular chain: Operation not supported`, 'EOPNOTSUPP');
    if (spec?.base) {
      const hooks = HOOKS_BY_TYPE[spec.base.type];
      if (!hooks?.includes(spec.base.hook))
        fail(`chain type ${spec.base.type} on hook ${spec.base.hook}: Operation not supported`, 'EOPNOTSUPP');
      if (spec.base.type === 'route' && table.family !== 'ip' && table.family !== 'ip6' && table.family !== 'inet')
        fail('route chains need family ip, ip6 or inet', 'EOPNOTSUPP');
    }
    table.chains.set(name, {
      name,
      handle: table.nextHandle++,
      base: spec?.base ? { ...spec.base, policy: spec.policy ?? 'accept' } : undefined,
      rules: [],
    });
  }

  #set(table: FakeTable, verb: string, kind: 'set' | 'map', name: string, rest: Token[], fail: (m: string, e?: string) => never): void {
    const set = table.sets.get(name);
    if (verb === 'delete') {
      if (rest.length > 0) fail(`syntax error: unexpected text after ${kind} name`);
      if (!set) fail(`${kind} ${name}: No such file or directory`, 'ENOENT');
      const used = [...table.chains.values()].some((c) => c.rules.some((r) => r.sets.includes(name)));
      if (used) fail(`${kind} ${name} is in use: Device or resource busy`, 'EBUSY');
      table.sets.delete(name);
      return;
    }
    if (verb === 'flush') {
      if (rest.length > 0) fail(`syntax error: unexpected text after ${kind} name`);
      // nft looks the name up among objects of the kind named: `flush set` of a map is ENOENT.
      if (!set || set.kind !== kind) fail(`${kind} ${name}: No such file or directory`, 'ENOENT');
      set!.elements.clear();
      return;
    }
    const spec = parseSetSpec(kind, rest, fail);
    if (set) {
      if (verb === 'create') fail(`${kind} ${name}: File exists`, 'EEXIST');
      const same =
        set.kind === kind &&
        set.keyTypes.join('.') === spec.keyTypes.join('.') &&
        (set.dataTypes ?? []).join('.') === (spec.dataTypes ?? []).join('.') &&
        [...set.flags].sort().join(',') === [...spec.flags].sort().join(',');
      if (!same) fail(`${kind} ${name} exists with another definition: File exists`, 'EEXIST');
      return;
    }
    table.sets.set(name, { kind, name, handle: table.nextHandle++, ...spec, elements: new Map() });
  }

  #elements(table: FakeTable, verb: string, name: string, rest: Token[], fail: (m: string, e?: string) => never): void {
    if (verb === 'flush') fail('flush element is not an nft statement');
    const set = table.sets.get(name) ?? fail(`set ${name}: No such file or directory`, 'ENOENT');
    const groups = braceList(rest, fail);
    const interval = set.flags.includes('interval');
    for (const g of groups) {
      const colon = g.findIndex((t) => t.kind === 'punct' && t.text === ':');
      const keyTokens = colon >= 0 ? g.slice(0, colon) : g;
      const dataTokens = colon >= 0 ? g.slice(colon + 1) : undefined;
      if (set.kind === 'set' && dataTokens) fail(`set ${name} is not a map`);
      if (set.kind === 'map' && !dataTokens && verb !== 'delete') fail(`map ${name} element without data: Invalid argument`, 'EINVAL');
      const where = g.map((t) => t.text).join(' ');
      let key: ParsedValue;
      let data: (ParsedValue & { chainRef?: string }) | undefined;
      try {
        key = parseElementValue(set.keyTypes, keyTokens, interval, undefined);
        if (set.kind === 'map' && dataTokens && verb !== 'delete')
          data = parseElementValue(set.dataTypes!, dataTokens, false, table.chains);
      } catch (err) {
        if (err instanceof ParseError) fail(`${where}: ${err.message}`, err.errno);
        fail(`element ${where}: ${(err as Error).message}`);
      }
      const id = key!.interval ? `${key!.interval[0]}-${key!.interval[1]}` : JSON.stringify(key!.json);
      const current = set.elements.get(id);
      if (verb === 'delete') {
        if (!current) fail(`element ${where}: No such file or directory`, 'ENOENT');
        set.elements.delete(id);
        continue;
      }
      if (current) {
        if (verb === 'create') fail(`element ${where}: File exists`, 'EEXIST');
        if (set.kind === 'map' && JSON.stringify(current.data) !== JSON.stringify(data!.json))
          fail(`element ${where} exists with other data: File exists`, 'EEXIST');
        continue;
      }
      if (key!.interval) {
        const [lo, hi] = key!.interval;
        for (const e of set.elements.values()) {
          if (e.interval && e.interval[0] <= hi && lo <= e.interval[1]) fail(`element ${where}: interval overlaps with an existing one`);
        }
      }
      set.elements.set(id, {
        key: key!.json,
        ...(data ? { data: data.json } : {}),
        ...(data?.chainRef ? { chainRef: data.chainRef } : {}),
        ...(key!.interval ? { interval: key!.interval } : {}),
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Spec parsing

function parseChainSpec(
  rest: Token[],
  fail: (m: string, e?: string) => never,
): { base?: Omit<BaseChain, 'policy'>; policy?: 'accept' | 'drop' } {
  const out: { base?: Omit<BaseChain, 'policy'>; policy?: 'accept' | 'drop' } = {};
  for (const c of clauses(braceBody(rest, fail), fail)) {
    const t = c.map((x) => x.text);
    if (t[0] === 'type') {
      if (t[2] !== 'hook' || t[4] !== 'priority' || t.length < 6) fail('syntax error: expected "type T hook H priority P"');
      const type = t[1]!;
      const hook = t[3]!;
      if (!HOOKS_BY_TYPE[type]) fail(`chain type ${type} is outside the subset FakeNft understands`);
      if (!['prerouting', 'input', 'forward', 'output', 'postrouting'].includes(hook))
        fail(`hook ${hook} is outside the subset FakeNft understands`);
      const prioText = t.slice(5).join(' ');
      let prio: number;
      const m = /^([a-z]+)(?: ?([+-]) ?(\d+))?$/.exec(prioText);
      if (/^-?\d+$/.test(prioText)) {
        prio = Number(prioText);
      } else if (m && NAMED_PRIORITIES[m[1]!]) {
        const named = NAMED_PRIORITIES[m[1]!]!;
        if (named.hooks && !named.hooks.includes(hook))
          fail(`priority ${m[1]} on hook ${hook}: invalid priority expression value in this context`);
        prio = named.value + (m[2] === '-' ? -1 : 1) * Number(m[3] ?? 0);
      } else {
        return fail(`priority ${JSON.stringify(prioText)} is not a number or a standard priority name`);
      }
      out.base = { type, hook, prio };
    } else if (t[0] === 'policy' && t.length === 2 && (t[1] === 'accept' || t[1] === 'drop')) {
      out.policy = t[1];
    } else {
      fail(`chain clause ${JSON.stringify(t.join(' '))} is outside the subset FakeNft understands`);
    }
  }
  return out;
}

function parseSetSpec(
  kind: 'set' | 'map',
  rest: Token[],
  fail: (m: string, e?: string) => never,
): { keyTypes: string[]; dataTypes: string[] | undefined; flags: string[] } {
  let keyTypes: string[] | undefined;
  let dataTypes: string[] | undefined;
  const flags: string[] = [];
  for (const c of clauses(braceBody(rest, fail), fail)) {
    const head = c[0]!.text;
    if (head === 'type' || head === 'typeof') {
      const colon = c.findIndex((x) => x.kind === 'punct' && x.text === ':');
      const keyPart = (colon >= 0 ? c.slice(1, colon) : c.slice(1)).map((x) => x.text);
      const dataPart = colon >= 0 ? c.slice(colon + 1).map((x) => x.text) : undefined;
      const resolve = (words: string[]): string[] => {
        const parts: string[][] = [[]];
        for (const x of words) {
          if (x === '.') parts.push([]);
          else parts[parts.length - 1]!.push(x);
        }
        return parts.map((p) => {
          if (p.length === 0) fail(`syntax error in ${head}`);
          if (head === 'type') {
            if (p.length !== 1 || !ELEMENT_TYPES.has(p[0]!) || p[0] === 'integer')
              fail(`type ${JSON.stringify(p.join(' '))} is outside the subset FakeNft understands`);
            return p[0]!;
          }
          if (p.length === 1 && p[0] === 'verdict') return 'verdict';
          return typeofType(p) ?? fail(`typeof ${JSON.stringify(p.join(' '))} is outside the subset FakeNft understands`);
        });
      };
      keyTypes = resolve(keyPart);
      if (keyTypes.includes('verdict')) fail('a verdict cannot be a key');
      if (dataPart) {
        dataTypes = resolve(dataPart);
        if (dataTypes.includes('verdict') && dataTypes.length > 1) fail('a verdict cannot be concatenated');
      }
    } else if (head === 'flags') {
      const words = c.slice(1).filter((x) => !(x.kind === 'punct' && x.text === ','));
      for (const f of words) {
        if (f.text !== 'interval') fail(`set flag ${f.text} is outside the subset FakeNft understands`);
        flags.push(f.text);
      }
    } else {
      fail(`${kind} clause ${JSON.stringify(c.map((x) => x.text).join(' '))} is outside the subset FakeNft understands`);
    }
  }
  if (!keyTypes) return fail(`${kind} definition does not specify key`);
  if (kind === 'map' && !dataTypes) fail('map definition does not specify data type');
  if (kind === 'set' && dataTypes) fail("syntax error, unexpected colon (a set has no data; use 'add map')");
  if (flags.includes('interval') && (keyTypes.length > 1 || !['ipv4_addr', 'ipv6_addr'].includes(keyTypes[0]!))) {
    fail('interval sets of other than one IPv4 or IPv6 address are outside the subset FakeNft understands');
  }
  return { keyTypes, dataTypes, flags };
}

// ---------------------------------------------------------------------------------------
// JSON dump in nft's shape

function tableJson(t: FakeTable): unknown[] {
  const out: unknown[] = [{ table: { family: t.family, name: t.name, handle: t.handle } }];
  for (const s of t.sets.values()) {
    const body: Record<string, unknown> = {
      family: t.family,
      name: s.name,
      table: t.name,
      type: s.keyTypes.length === 1 ? s.keyTypes[0] : [...s.keyTypes],
      handle: s.handle,
    };
    if (s.kind === 'map') body['map'] = s.dataTypes!.join(' . ');
    if (s.flags.length > 0) body['flags'] = [...s.flags];
    if (s.elements.size > 0) {
      body['elem'] = [...s.elements.values()].map((e) => (s.kind === 'map' ? [e.key, e.data] : e.key));
    }
    out.push({ [s.kind]: body });
  }
  for (const c of t.chains.values()) {
    const body: Record<string, unknown> = { family: t.family, table: t.name, name: c.name, handle: c.handle };
    if (c.base) Object.assign(body, { type: c.base.type, hook: c.base.hook, prio: c.base.prio, policy: c.base.policy });
    out.push({ chain: body });
  }
  for (const c of t.chains.values()) {
    for (const r of c.rules) out.push({ rule: { family: t.family, table: t.name, chain: c.name, handle: r.handle, text: r.text } });
  }
  return out;
}
