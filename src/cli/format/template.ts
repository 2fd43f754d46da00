/**
 * The subset of Go's text/template that Docker users write in `--format`:
 *
 *   {{.Name}}  {{.IPAM.Config}}  {{json .Labels}}  {{index .Labels "tier"}}
 *   {{range .Ports}}{{.TargetPort}} {{end}}  {{if .Internal}}internal{{else}}-{{end}}
 *   {{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}  {{.Name | upper}}  {{printf "%s/%d" .A .B}}
 *   {{- trim markers -}}
 *
 * Values print as Go's fmt prints them (`true`, `[a b]`, `map[k:v]`, `<no value>` for a
 * missing map key), so a template copied from a Docker how-to prints the same text. Objects
 * are Go structs unless marked with asGoMap (Labels, Options, ...): reading a field a struct
 * does not have is an error, reading a missing map key prints `<no value>`. Functions are
 * Go's built-ins plus Docker's (json, join, split, lower, upper, title, pad, truncate).
 *
 * Pure: parse once with parseTemplate, run with executeTemplate; every problem is a
 * UsageError whose message starts with `template:`.
 */
import { UsageError } from '../parse/usage-error.ts';

// ---------------------------------------------------------------------------------------
// maps vs structs

const goMaps = new WeakSet<object>();

/** Marks a plain object as a Go map (key order sorted when printed; missing keys print `<no value>`). */
export function asGoMap<T extends object>(obj: T): T {
  goMaps.add(obj);
  return obj;
}

export function isGoMap(obj: unknown): boolean {
  return typeof obj === 'object' && obj !== null && goMaps.has(obj);
}

// ---------------------------------------------------------------------------------------
// AST

type Arg =
  | { readonly t: 'field'; readonly base: 'dot' | 'var'; readonly name: string; readonly path: readonly string[] }
  | { readonly t: 'lit'; readonly value: unknown }
  | { readonly t: 'fn'; readonly name: string }
  | { readonly t: 'pipe'; readonly pipe: Pipe; readonly path: readonly string[] };

interface Command {
  readonly args: readonly Arg[];
}

interface Pipe {
  readonly decl: readonly string[];
  readonly cmds: readonly Command[];
}

type Node =
  | { readonly t: 'text'; readonly text: string }
  | { readonly t: 'action'; readonly pipe: Pipe }
  | { readonly t: 'if' | 'with'; readonly pipe: Pipe; readonly body: readonly Node[]; readonly otherwise: readonly Node[] }
  | { readonly t: 'range'; readonly pipe: Pipe; readonly body: readonly Node[]; readonly otherwise: readonly Node[] };

export interface Template {
  readonly source: string;
  readonly nodes: readonly Node[];
  /** Fields read directly from the top-level value (`.Name` -> Name), for table headers. */
  readonly topFields: readonly string[];
}

function templateError(message: string): UsageError {
  return new UsageError(`template: ${message}`);
}

// ---------------------------------------------------------------------------------------
// lexer for the inside of one action

type Tok =
  | { k: 'field'; path: string[] } // .A.B  or "." (empty path)
  | { k: 'var'; name: string; path: string[] } // $x.A
  | { k: 'ident'; name: string }
  | { k: 'str'; value: string }
  | { k: 'num'; value: number }
  | { k: 'pipe' }
  | { k: 'lparen' }
  | { k: 'rparen'; path: string[] }
  | { k: 'comma' }
  | { k: 'declare' }
  | { k: 'assign' };

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const readPath = (): string[] => {
    const path: string[] = [];
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      path.push(m?.[0] ?? '');
      i += m?.[0].length ?? 0;
    }
    return path;
  };
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      toks.push({ k: 'pipe' });
      i++;
    } else if (c === '(') {
      toks.push({ k: 'lparen' });
      i++;
    } else if (c === ')') {
      i++;
      toks.push({ k: 'rparen', path: readPath() });
    } else if (c === ',') {
      toks.push({ k: 'comma' });
      i++;
    } else if (c === ':' && src[i + 1] === '=') {
      toks.push({ k: 'declare' });
      i += 2;
    } else if (c === '=') {
      toks.push({ k: 'assign' });
      i++;
    } else if (c === '.') {
      if (/[A-Za-z_]/.test(src[i + 1] ?? '')) toks.push({ k: 'field', path: readPath() });
      else if (/\d/.test(src[i + 1] ?? '')) {
        const m = /^\.\d+(?:[eE][-+]?\d+)?/.exec(src.slice(i));
        toks.push({ k: 'num', value: Number(m?.[0]) });
        i += m?.[0].length ?? 1;
      } else {
        toks.push({ k: 'field', path: [] });
        i++;
      }
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i));
      i += m?.[0].length ?? 1;
      toks.push({ k: 'var', name: m?.[0] ?? '$', path: readPath() });
    } else if (c === '"') {
      let j = i + 1;
      let raw = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\') {
          raw += src.slice(j, j + 2);
          j += 2;
        } else {
          raw += src[j];
          j++;
        }
      }
      if (j >= src.length) throw templateError('unterminated quoted string');
      try {
        toks.push({ k: 'str', value: JSON.parse(`"${raw}"`) as string });
      } catch {
        throw templateError(`bad string literal "${raw}"`);
      }
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw templateError('unterminated raw quoted string');
      toks.push({ k: 'str', value: src.slice(i + 1, j) });
      i = j + 1;
    } else if (/[-+\d]/.test(c)) {
      const m = /^[-+]?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)/.exec(src.slice(i));
      if (!m) throw templateError(`unexpected ${JSON.stringify(c)} in action`);
      toks.push({ k: 'num', value: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      toks.push({ k: 'ident', name: m?.[0] ?? c });
      i += m?.[0].length ?? 1;
    } else {
      throw templateError(`unexpected ${JSON.stringify(c)} in action`);
    }
  }
  return toks;
}

// ---------------------------------------------------------------------------------------
// parser

class PipeParser {
  private pos = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(allowDecl: boolean): Pipe {
    const decl: string[] = [];
    if (allowDecl) {
      // `$x :=`  or  `$k, $v :=`
      const save = this.pos;
      const names: string[] = [];
      while (this.toks[this.pos]?.k === 'var') {
        const v = this.toks[this.pos] as { name: string; path: string[] };
        if (v.path.length > 0) break;
        names.push(v.name);
        this.pos++;
        if (this.toks[this.pos]?.k === 'comma') this.pos++;
        else break;
      }
      const next = this.toks[this.pos]?.k;
      if (names.length > 0 && (next === 'declare' || next === 'assign')) {
        this.pos++;
        decl.push(...names);
      } else {
        this.pos = save;
      }
    }
    const cmds: Command[] = [];
    for (;;) {
      cmds.push(this.command());
      if (this.toks[this.pos]?.k === 'pipe') {
        this.pos++;
        continue;
      }
      break;
    }
    return { decl, cmds };
  }

  done(): boolean {
    return this.pos >= this.toks.length;
  }

  peek(): Tok | undefined {
    return this.toks[this.pos];
  }

  private command(): Command {
    const args: Arg[] = [];
    for (;;) {
      const tok = this.toks[this.pos];
      if (tok === undefined || tok.k === 'pipe' || tok.k === 'rparen') break;
      this.pos++;
      switch (tok.k) {
        case 'field':
          args.push({ t: 'field', base: 'dot', name: '.', path: tok.path });
          break;
        case 'var':
          args.push({ t: 'field', base: 'var', name: tok.name, path: tok.path });
          break;
        case 'str':
          args.push({ t: 'lit', value: tok.value });
          break;
        case 'num':
          args.push({ t: 'lit', value: tok.value });
          break;
        case 'ident':
          if (tok.name === 'true' || tok.name === 'false') args.push({ t: 'lit', value: tok.name === 'true' });
          else if (tok.name === 'nil') args.push({ t: 'lit', value: null });
          else {
            if (!(tok.name in FUNCS)) throw templateError(`function "${tok.name}" not defined`);
            args.push({ t: 'fn', name: tok.name });
          }
          break;
        case 'lparen': {
          const inner = this.parse(false);
          const close = this.toks[this.pos];
          if (close?.k !== 'rparen') throw templateError('unclosed left paren');
          this.pos++;
          args.push({ t: 'pipe', pipe: inner, path: close.path });
          break;
        }
        default:
          throw templateError(`unexpected ${tok.k} in command`);
      }
    }
    if (args.length === 0) throw templateError('missing value for command');
    return { args };
  }
}

function parsePipe(src: string, allowDecl: boolean): Pipe {
  const p = new PipeParser(lexAction(src));
  const pipe = p.parse(allowDecl);
  if (!p.done()) throw templateError(`unexpected ${p.peek()?.k ?? 'token'} in operand`);
  return pipe;
}

interface RawAction {
  readonly body: string;
}

/** Splits source into text and action pieces, applying `{{-` / `-}}` trimming. */
function tokenize(source: string): (string | RawAction)[] {
  const out: (string | RawAction)[] = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    let text = open < 0 ? source.slice(i) : source.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      if (text !== '') out.push(text);
      break;
    }
    let start = open + 2;
    if (source[start] === '-' && /\s/.test(source[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 2;
    }
    if (text !== '') out.push(text);
    const close = findClose(source, start);
    if (close < 0) throw templateError('unclosed action');
    let end = close;
    trimNext = false;
    if (source[close - 1] === '-' && /\s/.test(source[close - 2] ?? '')) {
      end = close - 2;
      trimNext = true;
    }
    const body = source.slice(start, end).trim();
    if (!body.startsWith('/*')) out.push({ body });
    i = close + 2;
  }
  return out;
}

/** Index of the `}}` closing an action starting at `from`, skipping quoted strings. */
function findClose(source: string, from: number): number {
  let i = from;
  while (i < source.length) {
    const c = source[i];
    if (c === '"') {
      i++;
      while (i < source.length && source[i] !== '"') i += source[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '`') {
      const j = source.indexOf('`', i + 1);
      if (j < 0) return -1;
      i = j + 1;
    } else if (c === '}' && source[i + 1] === '}') {
      return i;
    } else {
      i++;
    }
  }
  return -1;
}

const KEYWORD_RE = /^(if|range|with|else|end)\b\s*/;

function buildTree(pieces: (string | RawAction)[]): Node[] {
  let pos = 0;
  // Returns the nodes up to an `else` or `end`, and which of those stopped it.
  const block = (inside: boolean): { nodes: Node[]; stop: 'end' | 'else' | 'eof'; elseRest: string } => {
    const nodes: Node[] = [];
    while (pos < pieces.length) {
      const piece = pieces[pos++] as string | RawAction;
      if (typeof piece === 'string') {
        nodes.push({ t: 'text', text: piece });
        continue;
      }
      const kw = KEYWORD_RE.exec(piece.body);
      const keyword = kw?.[1];
      const rest = kw ? piece.body.slice(kw[0].length) : piece.body;
      if (keyword === 'end' || keyword === 'else') {
        if (!inside) throw templateError(`unexpected {{${keyword}}}`);
        return { nodes, stop: keyword, elseRest: rest };
      }
      if (keyword === 'if' || keyword === 'with' || keyword === 'range') {
        nodes.push(control(keyword, rest));
        continue;
      }
      nodes.push({ t: 'action', pipe: parsePipe(piece.body, true) });
    }
    if (inside) throw templateError('unexpected EOF: missing {{end}}');
    return { nodes, stop: 'eof', elseRest: '' };
  };
  const control = (keyword: 'if' | 'with' | 'range', pipeSrc: string): Node => {
    if (pipeSrc.trim() === '') throw templateError(`missing value for ${keyword}`);
    const pipe = parsePipe(pipeSrc, keyword === 'range' || keyword === 'with' || keyword === 'if');
    const body = block(true);
    let otherwise: Node[] = [];
    if (body.stop === 'else') {
      const elseIf = /^if\b\s*/.exec(body.elseRest);
      if (elseIf) {
        // `{{else if X}}` nests an `if` that shares this block's {{end}}
        otherwise = [control('if', body.elseRest.slice(elseIf[0].length))];
      } else {
        if (body.elseRest.trim() !== '') throw templateError(`unexpected "${body.elseRest.trim()}" after else`);
        const rest = block(true);
        if (rest.stop !== 'end') throw templateError('expected {{end}} after {{else}}');
        otherwise = rest.nodes;
      }
    }
    return keyword === 'range' ? { t: 'range', pipe, body: body.nodes, otherwise } : { t: keyword, pipe, body: body.nodes, otherwise };
  };
  return block(false).nodes;
}

function collectTopFields(nodes: readonly Node[], out: Set<string>): void {
  const fromPipe = (p: Pipe): void => {
    for (const c of p.cmds) {
      for (const a of c.args) {
        if (a.t === 'field' && a.base === 'dot' && a.path[0] !== undefined) out.add(a.path[0]);
        if (a.t === 'pipe') fromPipe(a.pipe);
      }
    }
  };
  for (const n of nodes) {
    if (n.t === 'action') fromPipe(n.pipe);
    else if (n.t !== 'text') {
      fromPipe(n.pipe);
      // inside range/with the dot changes; only `if` keeps it
      if (n.t === 'if') collectTopFields(n.body, out);
      collectTopFields(n.otherwise, out);
    }
  }
}

/** Parses a template; throws a UsageError (`template: ...`) when it is malformed. */
export function parseTemplate(source: string): Template {
  const nodes = buildTree(tokenize(source));
  const fields = new Set<string>();
  collectTopFields(nodes, fields);
  return { source, nodes, topFields: [...fields] };
}

// ---------------------------------------------------------------------------------------
// values as Go prints them

const NO_VALUE = Symbol('no value');

/** Go's `%v` text of a value. */
export function goString(v: unknown): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    if (isGoMap(v)) {
      const keys = Object.keys(v).sort();
      return `map[${keys.map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`).join(' ')}]`;
    }
    return `{${Object.values(v).map(goString).join(' ')}}`;
  }
  return String(v);
}

function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && isGoMap(v)) return Object.keys(v).length > 0;
  return true;
}

// ---------------------------------------------------------------------------------------
// functions

function jsonText(v: unknown): string {
  return JSON.stringify(v === undefined || v === NO_VALUE ? null : v) ?? 'null';
}

function lengthOf(v: unknown): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (typeof v === 'object' && v !== null && isGoMap(v)) return Object.keys(v).length;
  throw templateError(`len of ${typeof v}`);
}

function indexOf(v: unknown, ...keys: unknown[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (Array.isArray(cur) && typeof k === 'number') {
      if (k < 0 || k >= cur.length) throw templateError(`index out of range: ${k}`);
      cur = cur[k];
    } else if (typeof cur === 'object' && cur !== null && typeof k === 'string') {
      cur = k in cur ? (cur as Record<string, unknown>)[k] : NO_VALUE;
    } else {
      throw templateError(`can't index item of type ${Array.isArray(cur) ? 'slice' : typeof cur}`);
    }
  }
  return cur;
}

function printf(format: unknown, ...args: unknown[]): string {
  if (typeof format !== 'string') throw templateError('printf needs a format string');
  let n = 0;
  return format.replace(/%([-+# 0]*\d*(?:\.\d+)?)([vsdqtfx%])/g, (_m, flags: string, verb: string) => {
    if (verb === '%') return '%';
    const a = args[n++];
    let s: string;
    switch (verb) {
      case 'q':
        s = JSON.stringify(goString(a));
        break;
      case 'd':
        s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${goString(a)})`;
        break;
      case 'f': {
        const prec = /\.(\d+)/.exec(flags);
        s = typeof a === 'number' ? a.toFixed(prec ? Number(prec[1]) : 6) : `%!f(${goString(a)})`;
        break;
      }
      case 'x':
        s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(goString(a)).toString('hex');
        break;
      default:
        s = goString(a);
    }
    const width = /^[-+# 0]*(\d+)/.exec(flags);
    if (width) {
      const w = Number(width[1]);
      s = flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
    }
    return s;
  });
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) {
    throw templateError(`incompatible types for comparison in ${op}`);
  }
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case 'lt':
      return x < y;
    case 'le':
      return x <= y;
    case 'gt':
      return x > y;
    default:
      return x >= y;
  }
}

function title(s: unknown): string {
  return goString(s).replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

type Fn = (...args: unknown[]) => unknown;

const FUNCS: Readonly<Record<string, Fn>> = Object.freeze({
  // Docker's additions
  json: (v: unknown) => jsonText(v),
  join: (list: unknown, sep: unknown) => {
    if (!Array.isArray(list)) throw templateError('join needs a list');
    return list.map(goString).join(goString(sep));
  },
  split: (s: unknown, sep: unknown) => goString(s).split(goString(sep)),
  lower: (s: unknown) => goString(s).toLowerCase(),
  upper: (s: unknown) => goString(s).toUpperCase(),
  title,
  pad: (s: unknown, left: unknown, right: unknown) => ' '.repeat(Number(left)) + goString(s) + ' '.repeat(Number(right)),
  truncate: (s: unknown, n: unknown) => {
    const chars = [...goString(s)];
    return chars.length > Number(n) ? chars.slice(0, Number(n)).join('') : chars.join('');
  },
  // Go's built-ins
  len: lengthOf,
  index: indexOf,
  print: (...a: unknown[]) => a.map(goString).join(''),
  println: (...a: unknown[]) => `${a.map(goString).join(' ')}\n`,
  printf,
  not: (a: unknown) => !truthy(a),
  and: (...a: unknown[]) => {
    for (const x of a) if (!truthy(x)) return x;
    return a[a.length - 1];
  },
  or: (...a: unknown[]) => {
    for (const x of a) if (truthy(x)) return x;
    return a[a.length - 1];
  },
  eq: (a: unknown, ...bs: unknown[]) => bs.some((b) => a === b),
  ne: (a: unknown, b: unknown) => a !== b,
  lt: (a: unknown, b: unknown) => compare('lt', a, b),
  le: (a: unknown, b: unknown) => compare('le', a, b),
  gt: (a: unknown, b: unknown) => compare('gt', a, b),
  ge: (a: unknown, b: unknown) => compare('ge', a, b),
});

// ---------------------------------------------------------------------------------------
// execution

interface Scope {
  readonly dot: unknown;
  readonly vars: Map<string, unknown>;
}

function field(base: unknown, path: readonly string[], shown: string): unknown {
  let cur = base;
  for (const name of path) {
    if (cur === NO_VALUE || cur === null || cur === undefined) {
      throw templateError(`executing at <${shown}>: nil pointer evaluating .${name}`);
    }
    if (typeof cur !== 'object') throw templateError(`executing at <${shown}>: can't evaluate field ${name} in type ${typeof cur}`);
    if (Object.hasOwn(cur, name)) {
      cur = (cur as Record<string, unknown>)[name];
    } else if (isGoMap(cur)) {
      cur = NO_VALUE;
    } else {
      throw templateError(`executing at <${shown}>: can't evaluate field ${name}`);
    }
  }
  return cur;
}

function evalArg(a: Arg, scope: Scope): unknown {
  switch (a.t) {
    case 'lit':
      return a.value;
    case 'fn':
      return FUNCS[a.name]?.();
    case 'pipe':
      return field(evalPipe(a.pipe, scope), a.path, `(...)${a.path.map((p) => `.${p}`).join('')}`);
    case 'field': {
      const shown = `${a.base === 'var' ? a.name : ''}${a.path.length === 0 && a.base === 'dot' ? '.' : a.path.map((p) => `.${p}`).join('')}`;
      if (a.base === 'var') {
        if (!scope.vars.has(a.name)) throw templateError(`undefined variable "${a.name}"`);
        return field(scope.vars.get(a.name), a.path, shown);
      }
      return field(scope.dot, a.path, shown);
    }
  }
}

function evalCommand(cmd: Command, scope: Scope, piped: { value: unknown } | undefined): unknown {
  const [first, ...rest] = cmd.args;
  if (first === undefined) throw templateError('empty command');
  if (first.t === 'fn') {
    const fn = FUNCS[first.name] as Fn;
    const args = rest.map((a) => evalArg(a, scope));
    if (piped) args.push(piped.value);
    return fn(...args);
  }
  const value = evalArg(first, scope);
  if (typeof value === 'function') {
    const args = rest.map((a) => evalArg(a, scope));
    if (piped) args.push(piped.value);
    return (value as Fn)(...args);
  }
  if (rest.length > 0 || piped) throw templateError(`can't give argument to non-function ${goString(value)}`);
  return value;
}

function evalPipe(pipe: Pipe, scope: Scope): unknown {
  let piped: { value: unknown } | undefined;
  for (const cmd of pipe.cmds) piped = { value: evalCommand(cmd, scope, piped) };
  const value = piped?.value;
  if (pipe.decl.length === 1) scope.vars.set(pipe.decl[0] as string, value);
  return value;
}

function exec(nodes: readonly Node[], scope: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case 'text':
        out.push(n.text);
        break;
      case 'action': {
        const v = evalPipe(n.pipe, scope);
        if (n.pipe.decl.length === 0) out.push(goString(v));
        break;
      }
      case 'if': {
        const v = evalPipe(n.pipe, scope);
        exec(truthy(v) ? n.body : n.otherwise, scope, out);
        break;
      }
      case 'with': {
        const v = evalPipe(n.pipe, scope);
        if (truthy(v)) exec(n.body, { dot: v, vars: scope.vars }, out);
        else exec(n.otherwise, scope, out);
        break;
      }
      case 'range': {
        const decl = n.pipe.decl;
        const v = evalPipe({ decl: [], cmds: n.pipe.cmds }, scope);
        let entries: [unknown, unknown][];
        if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
        else if (typeof v === 'object' && v !== null) {
          entries = Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]);
        } else if (v === null || v === undefined || v === NO_VALUE) entries = [];
        else if (typeof v === 'number' && Number.isInteger(v)) entries = Array.from({ length: Math.max(0, v) }, (_x, i) => [i, i]);
        else throw templateError(`range can't iterate over ${goString(v)}`);
        if (entries.length === 0) {
          exec(n.otherwise, scope, out);
          break;
        }
        for (const [k, x] of entries) {
          const vars = new Map(scope.vars);
          if (decl.length === 1) vars.set(decl[0] as string, x);
          if (decl.length === 2) {
            vars.set(decl[0] as string, k);
            vars.set(decl[1] as string, x);
          }
          exec(n.body, { dot: x, vars }, out);
        }
        break;
      }
    }
  }
}

/** Runs a parsed template against `data` (also bound to `$`). */
export function executeTemplate(tpl: Template, data: unknown): string {
  const out: string[] = [];
  exec(tpl.nodes, { dot: data, vars: new Map([['$', data]]) }, out);
  return out.join('');
}

/** Parses and runs in one go. */
export function renderTemplate(source: string, data: unknown): string {
  return executeTemplate(parseTemplate(source), data);
}
