/**
 * The syntax of nft scripts as FakeNft reads them: a tokenizer, a splitter into statements,
 * and the helpers that take apart a `{ ... }` body. No meaning is given to any word here;
 * fake-nft.ts decides what a statement does and nft-element-values.ts what a value is.
 *
 * What the tokenizer accepts, as `nft -f` (1.0.6) does for the subset shoal writes:
 *   - words separated by spaces, tabs or CRs; `{ } ; ,` are tokens of their own;
 *   - `# ...` to the end of the line is a comment (also right after a word: `accept#x`);
 *   - `"..."` is one string token without its quotes; no escapes, and it ends on its line;
 *   - a backslash right before a newline joins the two lines (`\` then CRLF does not);
 *   - a word ending in `:` is the word and a `:` token (`key: value`), unless it ends in
 *     `::` (an IPv6 address such as `fd00::`); colons inside a word stay (MACs, IPv6);
 *   - any other whitespace (form feed, vertical tab, no-break space...) is refused, as nft
 *     refuses it ("unexpected junk").
 * Statements end at a newline or `;` outside braces; inside braces both are kept as tokens so
 * a body can be split into clauses. Braces must balance.
 */

export interface Token {
  kind: 'word' | 'string' | 'punct' | 'nl';
  /** The word, the string without its quotes, the punctuation character, or '\n'. */
  text: string;
  /** 1-based line the token starts on. */
  line: number;
  /** Offsets of the token in the script (a string's include its quotes). */
  start: number;
  end: number;
}

export interface Statement {
  /** The statement's tokens: no comments, and no newline or `;` outside braces. */
  tokens: Token[];
  /** Line of its first token. */
  line: number;
  /** The script text from its first token to its last, as written. */
  source: string;
}

/**
 * A statement that cannot be run: bad syntax, or (thrown by the fake) what the kernel would
 * refuse, with the errno it would give. `line` 0 means "the line of the statement being run".
 */
export class ParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
    readonly errno?: string,
  ) {
    super(message);
  }
}

/** The tokens of a whole script. Throws ParseError on an unterminated string or stray whitespace. */
export function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < script.length) {
    const c = script[i]!;
    if (c === '\n') {
      tokens.push({ kind: 'nl', text: '\n', line, start: i, end: i + 1 });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '\\' && script[i + 1] === '\n') {
      line++;
      i += 2; // line continuation
    } else if (c === '#') {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < script.length && script[j] !== '"' && script[j] !== '\n') j++;
      if (script[j] !== '"') throw new ParseError(line, 'unterminated string');
      tokens.push({ kind: 'string', text: script.slice(i + 1, j), line, start: i, end: j + 1 });
      i = j + 1;
    } else if (c === '{' || c === '}' || c === ';' || c === ',') {
      tokens.push({ kind: 'punct', text: c, line, start: i, end: i + 1 });
      i++;
    } else if (/\s/.test(c)) {
      // Whitespace nft does not skip; a word cannot start with it either.
      throw new ParseError(line, `syntax error, unexpected junk (character U+${c.charCodeAt(0).toString(16).padStart(4, '0')})`);
    } else {
      let j = i;
      while (j < script.length && !/[\s{};,#"]/.test(script[j]!)) j++;
      const text = script.slice(i, j);
      // `key : value` and `key: value`: a colon ending a word separates, unless it ends
      // an IPv6 address such as `fd00::`.
      if (text.length > 1 && text.endsWith(':') && !text.endsWith('::')) {
        tokens.push({ kind: 'word', text: text.slice(0, -1), line, start: i, end: j - 1 });
        tokens.push({ kind: 'punct', text: ':', line, start: j - 1, end: j });
      } else if (text === ':') {
        tokens.push({ kind: 'punct', text: ':', line, start: i, end: j });
      } else {
        tokens.push({ kind: 'word', text, line, start: i, end: j });
      }
      i = j;
    }
  }
  return tokens;
}

/** The statements of a whole script, in order. Throws ParseError on bad syntax or unbalanced braces. */
export function splitStatements(script: string): Statement[] {
  const tokens = tokenize(script);
  const out: Statement[] = [];
  let cur: Token[] = [];
  let depth = 0;
  const flush = (): void => {
    // Newlines at depth 0 end statements and are never kept; those inside braces are.
    const t = cur;
    if (t.length > 0) {
      out.push({ tokens: t, line: t[0]!.line, source: script.slice(t[0]!.start, t[t.length - 1]!.end) });
    }
    cur = [];
  };
  for (const t of tokens) {
    if (t.kind === 'punct' && t.text === '{') depth++;
    if (t.kind === 'punct' && t.text === '}') {
      depth--;
      if (depth < 0) throw new ParseError(t.line, "syntax error, unexpected '}'");
    }
    if (depth === 0 && (t.kind === 'nl' || (t.kind === 'punct' && t.text === ';'))) {
      flush();
      continue;
    }
    cur.push(t);
  }
  if (depth > 0) throw new ParseError(cur[0]?.line ?? 1, "syntax error, unexpected end of file (missing '}')");
  flush();
  return out;
}

/** Reports a syntax problem (the caller's `fail` throws, with the statement's line). */
export type Fail = (message: string) => never;

/** The tokens between the braces of `{ ... }`, which must be the whole of `rest`. */
export function braceBody(rest: Token[], fail: Fail): Token[] {
  const first = rest[0];
  const last = rest[rest.length - 1];
  if (first?.text !== '{' || last?.text !== '}' || first.kind !== 'punct' || last.kind !== 'punct')
    fail("syntax error: expected '{ ... }'");
  return rest.slice(1, -1);
}

/**
 * Splits a brace body (`type ipv4_addr; flags interval;`) into clauses at `;` and newlines.
 * Nested braces are refused, and so is a last clause with no `;` or newline before the `}`.
 */
export function clauses(body: Token[], fail: Fail): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  for (const t of body) {
    if (t.kind === 'nl' || (t.kind === 'punct' && t.text === ';')) {
      if (cur.length > 0) out.push(cur);
      cur = [];
    } else if (t.kind === 'punct' && (t.text === '{' || t.text === '}')) {
      fail('syntax error: nested braces are outside the subset FakeNft understands');
    } else {
      cur.push(t);
    }
  }
  // nft 1.0.6 needs ';' or a newline before '}' (PLATFORM.md).
  if (cur.length > 0) fail("syntax error, unexpected '}', expecting newline or semicolon");
  return out;
}

/** `{ a, b : c, ... }` (the whole of `rest`) -> element token groups (newlines ignored). */
export function braceList(rest: Token[], fail: Fail): Token[][] {
  const body = braceBody(rest, fail).filter((t) => t.kind !== 'nl');
  const out: Token[][] = [];
  let cur: Token[] = [];
  for (const t of body) {
    if (t.kind === 'punct' && t.text === ',') {
      if (cur.length === 0) fail('syntax error: empty element');
      out.push(cur);
      cur = [];
    } else if (t.kind === 'punct' && t.text !== ':') {
      fail(`syntax error: unexpected ${JSON.stringify(t.text)} in element list`);
    } else {
      cur.push(t);
    }
  }
  if (cur.length > 0) out.push(cur);
  if (out.length === 0) fail('syntax error: empty element list');
  return out;
}
