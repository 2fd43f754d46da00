/**
 * The printed text of a rule from its `nft -j` expression list, for a subset of nft's
 * statements, so that a table read with one `nft -j list table` compares with a planner's
 * rule text without a second, text listing.
 *
 * Why: withRuleText() (nft.ts) needs `nft -a list table` as well, and with large sets that
 * second listing costs as much as the first (nft 1.0.6 fetches every element of the table
 * even for `list chain` or `-t`: 5.9 s with 250,000 map elements on this machine, on top of
 * 8-12 s for the JSON listing). The load balancer's table holds that many elements.
 *
 * The printer returns undefined for anything outside its subset or any value whose printed
 * form it cannot be sure of, so such a rule keeps its expression JSON in the canonical
 * text, which then differs from any planner's text: a safe failure (the table is rewritten),
 * never a false match. Each form below was checked against nft 1.0.6's own listing
 * (test/kernel/conformance/nft-expr-text.test.ts runs every one of them on the kernel):
 *   - payload `ip daddr`, `th dport`; `meta l4proto` (`iifname`,
 *     `oifname` and the other unqualified meta keys without `meta`); `ct state`;
 *     `ct status`; `fib daddr type`, `fib saddr type`;
 *     `numgen random|inc mod N [offset M]`; concatenations `a . b`;
 *   - matches `left right`, `left != right`; right sides: addresses, prefixes, ranges,
 *     protocol and state names, ports (decimal), marks (0x%08x), `@set`, anonymous sets
 *     `{ a, b }`, flag lists `established,related`; interface names quoted;
 *   - `KEY vmap @map`, `dnat [FAMILY] to ADDR[:PORT]`, `dnat [FAMILY] to KEY map @map`,
 *     `snat`, `masquerade`, `reject` (nft leaves out the family's default, ICMP(x) port
 *     unreachable), `reject with tcp reset`, `reject with icmp|icmpx CODE`, `counter`,
 *     accept, drop, continue, return, jump and goto;
 *   - a rule's comment as ` comment "TEXT"`.
 */

const UNQUALIFIED_META = new Set(['iif', 'oif', 'iifname', 'oifname', 'iifgroup', 'oifgroup']);
const QUOTED_META = new Set(['iifname', 'oifname']);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The one key of a JSON object such as `{ "payload": {...} }`, with its value. */
function single(v: unknown): [string, unknown] | undefined {
  if (!isObj(v)) return undefined;
  const keys = Object.keys(v);
  return keys.length === 1 ? [keys[0]!, v[keys[0]!]] : undefined;
}

/** How a right-hand value is printed, from what the left side is. */
type ValueKind = 'plain' | 'port' | 'mark' | 'quoted';

function kindOfLeft(left: unknown): ValueKind | undefined {
  const s = single(left);
  if (!s) return undefined;
  const [k, body] = s;
  if (!isObj(body)) return undefined;
  if (k === 'payload') {
    if (body['field'] === 'dport' || body['field'] === 'sport') return 'port';
    if (body['field'] === 'saddr' || body['field'] === 'daddr' || body['field'] === 'protocol') return 'plain';
    return undefined;
  }
  if (k === 'meta') {
    if (body['key'] === 'mark') return 'mark';
    if (QUOTED_META.has(String(body['key']))) return 'quoted';
    if (body['key'] === 'l4proto' || body['key'] === 'nfproto') return 'plain';
    return undefined;
  }
  if (k === 'ct' && (body['key'] === 'state' || body['key'] === 'status')) return 'plain';
  if (k === 'fib' && body['result'] === 'type') return 'plain';
  if (k === 'concat') return 'plain';
  return undefined;
}

/** An expression (the left side of a match, a lookup key). */
function exprText(e: unknown): string | undefined {
  const s = single(e);
  if (!s) return undefined;
  const [k, body] = s;
  switch (k) {
    case 'payload': {
      if (!isObj(body)) return undefined;
      // Raw payloads (`@th,16,16`) are left out: nft prints their values in hex or decimal by length.
      if (typeof body['protocol'] === 'string' && typeof body['field'] === 'string') return `${body['protocol']} ${body['field']}`;
      return undefined;
    }
    case 'meta': {
      if (!isObj(body) || typeof body['key'] !== 'string') return undefined;
      return UNQUALIFIED_META.has(body['key']) ? body['key'] : `meta ${body['key']}`;
    }
    case 'ct':
      return isObj(body) && (body['key'] === 'state' || body['key'] === 'status') ? `ct ${body['key']}` : undefined;
    case 'fib': {
      // `fib daddr type`, `fib saddr type`: one address flag, result type (the mesh's local test)
      if (!isObj(body) || body['result'] !== 'type' || !Array.isArray(body['flags']) || body['flags'].length !== 1) return undefined;
      const flag = body['flags'][0];
      return flag === 'daddr' || flag === 'saddr' ? `fib ${flag} type` : undefined;
    }
    case 'numgen': {
      if (!isObj(body) || (body['mode'] !== 'random' && body['mode'] !== 'inc') || typeof body['mod'] !== 'number') return undefined;
      const offset = body['offset'] ?? 0;
      if (typeof offset !== 'number') return undefined;
      return `numgen ${body['mode']} mod ${body['mod']}${offset !== 0 ? ` offset ${offset}` : ''}`;
    }
    case 'concat': {
      if (!Array.isArray(body) || body.length === 0) return undefined;
      const parts = body.map(exprText);
      return parts.every((p) => p !== undefined) ? parts.join(' . ') : undefined;
    }
    default:
      return undefined;
  }
}

/** A value on the right of a match (or an address in a NAT statement). */
function valueText(v: unknown, kind: ValueKind): string | undefined {
  if (typeof v === 'string') {
    if (v.startsWith('@')) return v;
    if (kind === 'quoted') return /^[^"\s]*$/.test(v) ? `"${v}"` : undefined;
    if (kind === 'port' || kind === 'mark') return undefined;
    return /^[A-Za-z0-9_.:-]+$/.test(v) ? v : undefined;
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) return undefined;
    if (kind === 'port') return String(v);
    if (kind === 'mark') return `0x${v.toString(16).padStart(8, '0')}`;
    return undefined;
  }
  const s = single(v);
  if (!s) return undefined;
  const [k, body] = s;
  if (k === 'prefix' && isObj(body) && typeof body['len'] === 'number') {
    const addr = valueText(body['addr'], 'plain');
    return addr === undefined ? undefined : `${addr}/${body['len']}`;
  }
  if (k === 'range' && Array.isArray(body) && body.length === 2) {
    const [a, b] = [valueText(body[0], kind), valueText(body[1], kind)];
    return a === undefined || b === undefined ? undefined : `${a}-${b}`;
  }
  if (k === 'set' && Array.isArray(body) && body.length > 0) {
    const parts = body.map((x) => valueText(x, kind));
    return parts.every((p) => p !== undefined) ? `{ ${parts.join(', ')} }` : undefined;
  }
  if (k === 'concat' && Array.isArray(body)) {
    const parts = body.map((x) => valueText(x, typeof x === 'number' ? 'port' : 'plain'));
    return parts.every((p) => p !== undefined) ? parts.join(' . ') : undefined;
  }
  return undefined;
}

function natText(verb: string, body: unknown): string | undefined {
  if (!isObj(body)) return undefined;
  const family = body['family'];
  if (family !== undefined && typeof family !== 'string') return undefined;
  const head = `${verb}${family ? ` ${family}` : ''} to`;
  const addr = body['addr'];
  const m = single(addr);
  if (m && m[0] === 'map' && isObj(m[1])) {
    if (body['port'] !== undefined) return undefined;
    const key = exprText(m[1]['key']);
    const data = m[1]['data'];
    if (key === undefined || typeof data !== 'string' || !data.startsWith('@')) return undefined;
    return `${head} ${key} map ${data}`;
  }
  const a = valueText(addr, 'plain');
  if (a === undefined || a.startsWith('@') || a.startsWith('{')) return undefined;
  if (body['port'] === undefined) return `${head} ${a}`;
  const port = valueText(body['port'], 'port');
  return port === undefined ? undefined : `${head} ${a}:${port}`;
}

function rejectText(body: unknown, family: string): string | undefined {
  if (body === null) return 'reject';
  if (!isObj(body)) return undefined;
  const type = body['type'];
  const code = body['expr'];
  if (type === 'tcp reset' && code === undefined) return 'reject with tcp reset';
  if ((type === 'icmp' || type === 'icmpx' || type === 'icmpv6') && typeof code === 'string' && /^[a-z-]+$/.test(code)) {
    // nft prints nothing for its default: ICMP port unreachable (ip), ICMPx (inet), ICMPv6 (ip6).
    const defaultType = family === 'inet' ? 'icmpx' : family === 'ip6' ? 'icmpv6' : 'icmp';
    if (code === 'port-unreachable' && type === defaultType) return 'reject';
    return `reject with ${type} ${code}`;
  }
  return undefined;
}

/** One statement of a rule's expression list. */
function statementText(st: unknown, family: string): string | undefined {
  const s = single(st);
  if (!s) return undefined;
  const [k, body] = s;
  switch (k) {
    case 'match': {
      if (!isObj(body)) return undefined;
      const left = exprText(body['left']);
      const kind = kindOfLeft(body['left']);
      if (left === undefined || kind === undefined) return undefined;
      const op = body['op'];
      // Flags (ct state): `in` with one name or a list, printed comma-separated.
      if (op === 'in' && (Array.isArray(body['right']) || typeof body['right'] === 'string')) {
        const flags = (Array.isArray(body['right']) ? (body['right'] as unknown[]) : [body['right']]).map((x) => valueText(x, 'plain'));
        return flags.every((f) => f !== undefined && !f.startsWith('@')) ? `${left} ${flags.join(',')}` : undefined;
      }
      const right = valueText(body['right'], kind);
      if (right === undefined) return undefined;
      if (op === '==') return `${left} ${right}`;
      if (op === '!=') return `${left} != ${right}`;
      return undefined;
    }
    case 'vmap': {
      if (!isObj(body)) return undefined;
      const key = exprText(body['key']);
      const data = body['data'];
      return key !== undefined && typeof data === 'string' && data.startsWith('@') ? `${key} vmap ${data}` : undefined;
    }
    case 'counter':
      return 'counter';
    case 'accept':
    case 'drop':
    case 'continue':
    case 'return':
      return body === null ? k : undefined;
    case 'jump':
    case 'goto':
      return isObj(body) && typeof body['target'] === 'string' ? `${k} ${body['target']}` : undefined;
    case 'dnat':
    case 'snat':
      return natText(k, body);
    case 'masquerade':
      return body === null ? 'masquerade' : undefined;
    case 'reject':
      return rejectText(body, family);
    default:
      return undefined;
  }
}

/**
 * The text nft prints for a rule with this expression list in a table of `family`, or
 * undefined when any statement is outside the subset above.
 */
export function nftRuleExprText(family: string, expr: readonly unknown[], comment?: string): string | undefined {
  if (expr.length === 0) return undefined;
  const parts: string[] = [];
  for (const st of expr) {
    const text = statementText(st, family);
    if (text === undefined) return undefined;
    parts.push(text);
  }
  if (comment !== undefined) {
    if (comment.includes('"') || comment.includes('\n')) return undefined;
    parts.push(`comment "${comment}"`);
  }
  return parts.join(' ');
}

/**
 * A copy of a table's JSON objects in which each rule without `text` carries the text
 * nftRuleExprText() gives it, when it gives one. Rules with text (FakeNft's, or after
 * withRuleText) are left as they are.
 */
export function withExprText(json: readonly unknown[]): unknown[] {
  return json.map((o) => {
    const rule = (o as { rule?: Record<string, unknown> } | null)?.rule;
    if (!rule || typeof rule['text'] === 'string' || !Array.isArray(rule['expr'])) return o;
    const comment = typeof rule['comment'] === 'string' ? rule['comment'] : undefined;
    const text = nftRuleExprText(String(rule['family']), rule['expr'] as unknown[], comment);
    return text === undefined ? o : { rule: { ...rule, text } };
  });
}
