// The nft script syntax FakeNft reads: tokens, statements and brace bodies, on the inputs
// that are easy to get wrong.
import t from 'tap';
import { ParseError, braceList, clauses, splitStatements, tokenize, type Token } from '../../../src/kernel/nft-script.ts';

/** Tokens in a compact form: words bare, strings quoted, punctuation in brackets, newlines as ⏎. */
function show(tokens: readonly Token[]): string {
  return tokens
    .map((x) => (x.kind === 'word' ? x.text : x.kind === 'string' ? `"${x.text}"` : x.kind === 'nl' ? '⏎' : `[${x.text}]`))
    .join(' ');
}

/** The statements of `script`, each in show() form. */
function statements(script: string): string[] {
  return splitStatements(script).map((s) => show(s.tokens));
}

/** The ParseError `fn` throws (line and message), or a note that it did not throw one. */
function parseErrorOf(fn: () => unknown): { line: number; message: string } | string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return err instanceof ParseError ? { line: err.line, message: err.message } : `not a ParseError: ${String(err)}`;
  }
}

const fail = (message: string): never => {
  throw new ParseError(0, message);
};

/** Body tokens of a `{ ... }` written alone, without the braces. */
function body(text: string): Token[] {
  return tokenize(text).slice(1, -1);
}

t.test('words, punctuation and strings', async (t) => {
  t.equal(show(tokenize('add element inet t s { "eth0" . 80, "lo" . 53 }')), 'add element inet t s [{] "eth0" . 80 [,] "lo" . 53 [}]');
  t.equal(show(tokenize('a{b}c;d,e')), 'a [{] b [}] c [;] d [,] e', 'punctuation needs no spaces around it');
  t.equal(show(tokenize('  \t a\t\tb  ')), 'a b', 'spaces and tabs separate');
  const [s] = tokenize('x "a b;{#}"').slice(1);
  t.same(
    s,
    { kind: 'string', text: 'a b;{#}', line: 1, start: 2, end: 11 },
    'a string keeps ; { } # and spaces, its offsets include the quotes',
  );
  t.equal(show(tokenize('"" x')), '"" x', 'an empty string is a token');
  t.equal(show(tokenize('a"b"c')), 'a "b" c', 'a quote ends a word');
  t.equal(show(tokenize('say "a\\"b" x"')), 'say "a\\" b " x"', 'no escapes: a backslash does not protect a quote');
});

t.test('comments', async (t) => {
  t.same(statements('# a whole line\n\n   # indented\nadd table ip t # trailing\n#last'), ['add table ip t']);
  t.same(statements('add rule ip t c accept#right after a word'), ['add rule ip t c accept']);
  t.same(statements('add table ip t # ; add table ip u'), ['add table ip t'], 'a ; inside a comment separates nothing');
  t.same(statements('add chain ip t c { # opening\n  type filter hook input priority 0; # inside\n}'), [
    'add chain ip t c [{] ⏎ type filter hook input priority 0 [;] ⏎ [}]',
  ]);
  t.same(tokenize('#only a comment'), []);
});

t.test('strings end on their line', async (t) => {
  t.same(
    parseErrorOf(() => tokenize('add table ip t\nadd rule ip t c iifname "eth0 accept\n"')),
    {
      line: 2,
      message: 'unterminated string',
    },
  );
  t.same(
    parseErrorOf(() => tokenize('"')),
    { line: 1, message: 'unterminated string' },
  );
});

t.test('colons: key : value, and addresses that contain or end in colons', async (t) => {
  t.equal(show(tokenize('10.0.0.1 : 10.0.1.1')), '10.0.0.1 [:] 10.0.1.1');
  t.equal(show(tokenize('10.0.0.1: 10.0.1.1')), '10.0.0.1 [:] 10.0.1.1', 'a colon ending a word separates');
  t.equal(show(tokenize('fd00:: : fd00::1')), 'fd00:: [:] fd00::1', 'unless the word is an IPv6 address ending in ::');
  t.equal(show(tokenize('02:42:0a:00:01:05')), '02:42:0a:00:01:05', 'colons inside a word stay');
  t.equal(show(tokenize('a:b')), 'a:b');
  const [word, colon] = tokenize('key:');
  t.same([word?.end, colon?.start, colon?.end], [3, 3, 4], 'the split word and colon keep their offsets');
});

t.test('line continuations and line numbers', async (t) => {
  const sts = splitStatements('add table \\\nip t\nadd chain ip t c\n\n\nadd chain ip t d');
  t.same(
    sts.map((s) => [s.line, show(s.tokens)]),
    [
      [1, 'add table ip t'],
      [3, 'add chain ip t c'],
      [6, 'add chain ip t d'],
    ],
    'a backslash before a newline joins the lines, and lines are still counted',
  );
  t.equal(sts[0]!.tokens[2]!.line, 2, 'a token after a continuation is on the next line');
  t.equal(sts[0]!.source, 'add table \\\nip t', 'the source is the text as written');
  t.same(statements('add table ip t \\\r\nadd table ip u'), ['add table ip t \\', 'add table ip u'], 'a backslash before CRLF is a word');
  t.same(statements('add table ip t\r\nadd table ip u\r\n'), ['add table ip t', 'add table ip u'], 'CR is a space');
  t.equal(show(tokenize('a\\b')), 'a\\b', 'a backslash elsewhere is part of a word');
});

t.test('statements: newlines and ; outside braces, both kept inside', async (t) => {
  t.same(statements(''), []);
  t.same(statements('\n;\n ; ;\n'), [], 'empty statements are dropped');
  t.same(statements('add table ip t; add chain ip t c ;add chain ip t d'), ['add table ip t', 'add chain ip t c', 'add chain ip t d']);
  const multi = 'add set ip t s {\n  type ipv4_addr; flags interval\n}; add element ip t s { 10.0.0.0/8 }';
  const sts = splitStatements(multi);
  t.same(
    sts.map((s) => show(s.tokens)),
    ['add set ip t s [{] ⏎ type ipv4_addr [;] flags interval ⏎ [}]', 'add element ip t s [{] 10.0.0.0/8 [}]'],
  );
  t.same(
    sts.map((s) => [s.line, s.source]),
    [
      [1, 'add set ip t s {\n  type ipv4_addr; flags interval\n}'],
      [3, 'add element ip t s { 10.0.0.0/8 }'],
    ],
  );
  t.same(statements('add rule ip t c ip saddr { 10.0.0.1, 10.0.0.2 } accept; add rule ip t c drop'), [
    'add rule ip t c ip saddr [{] 10.0.0.1 [,] 10.0.0.2 [}] accept',
    'add rule ip t c drop',
  ]);
});

t.test('braces must balance', async (t) => {
  t.same(
    parseErrorOf(() => splitStatements('add table ip t\n}\n')),
    { line: 2, message: "syntax error, unexpected '}'" },
  );
  t.same(
    parseErrorOf(() => splitStatements('add table ip t\nadd set ip t s {\n type ipv4_addr;\n')),
    {
      line: 2,
      message: "syntax error, unexpected end of file (missing '}')",
    },
  );
  t.same(statements('a { { b } }'), ['a [{] [{] b [}] [}]'], 'nesting is the caller’s business');
});

t.test('whitespace nft does not skip is refused', async (t) => {
  for (const [name, c] of [
    ['form feed', '\f'],
    ['vertical tab', '\v'],
    ['no-break space', '\u00a0'],
  ]) {
    const r = parseErrorOf(() => splitStatements(`add table ip t\nadd table${c}ip u`));
    t.match(r, { line: 2, message: /^syntax error, unexpected junk/ }, name!);
  }
});

t.test('clauses of a brace body', async (t) => {
  t.same(clauses(body('{ type filter hook input priority 0; policy drop; }'), fail).map(show), [
    'type filter hook input priority 0',
    'policy drop',
  ]);
  t.same(
    clauses(body('{\n type ipv4_addr\n flags interval\n}'), fail).map(show),
    ['type ipv4_addr', 'flags interval'],
    'newlines separate clauses',
  );
  t.same(clauses(body('{ ; ;\n }'), fail), [], 'empty clauses are dropped');
  t.same(
    parseErrorOf(() => clauses(body('{ type ipv4_addr }'), fail)),
    {
      line: 0,
      message: "syntax error, unexpected '}', expecting newline or semicolon",
    },
  );
  t.match(
    parseErrorOf(() => clauses(body('{ a { b; } ; }'), fail)),
    { message: /nested braces/ },
  );
});

t.test('element lists', async (t) => {
  const list = (text: string): string[] => braceList(tokenize(text), fail).map(show);
  t.same(list('{ 10.0.0.1 : accept, 10.0.0.2 . tcp . 80 : jump c }'), ['10.0.0.1 [:] accept', '10.0.0.2 . tcp . 80 [:] jump c']);
  t.same(list('{\n  a,\n  b,\n}'), ['a', 'b'], 'newlines are ignored and a trailing comma is allowed');
  t.same(list('{ "eth0" }'), ['"eth0"']);
  t.match(
    parseErrorOf(() => list('{ a,, b }')),
    { message: 'syntax error: empty element' },
  );
  t.match(
    parseErrorOf(() => list('{ }')),
    { message: 'syntax error: empty element list' },
  );
  t.match(
    parseErrorOf(() => list('{ a; b }')),
    { message: 'syntax error: unexpected ";" in element list' },
  );
  t.match(
    parseErrorOf(() => list('a, b')),
    { message: "syntax error: expected '{ ... }'" },
  );
  t.match(
    parseErrorOf(() => list('{ a, b } c')),
    { message: "syntax error: expected '{ ... }'" },
    'the braces must be the whole list',
  );
});
