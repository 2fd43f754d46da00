import t from 'tap';
import { parseDurationNs, formatDurationNs } from '../../../src/cli/parse/duration.ts';
import { parseUint } from '../../../src/cli/parse/numbers.ts';
import {
  parseAuxAddress,
  parseEnv,
  parseEnvName,
  parseLabel,
  parseOpt,
  auxAddressesToRecord,
  pairsToRecord,
} from '../../../src/cli/parse/key-value.ts';
import { parseScaleArg, parseScaleArgs } from '../../../src/cli/parse/scale.ts';
import { parsePublish, parsePublishList, publishRemoveMatches, portSpecText } from '../../../src/cli/parse/publish.ts';
import { isUsageError } from '../../../src/cli/parse/usage-error.ts';
import { splitWords } from '../../../src/cli/parse/words.ts';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!isUsageError(err)) throw err;
    t.equal(err.code, 'SHOAL_ERR_INVALID_ARGUMENT');
    return err.message;
  }
  return '<no error>';
}

t.test('durations: accepted as Docker accepts them', async (t) => {
  const cases: [string, number][] = [
    ['0', 0],
    ['0s', 0],
    ['30s', 30e9],
    ['1m30s', 90e9],
    ['500ms', 500e6],
    ['1.5h', 5400e9],
    ['2h45m', 9900e9],
    ['100us', 100e3],
    ['100µs', 100e3],
    ['250ns', 250],
    ['.5s', 500e6],
    ['1.s', 1e9],
    ['+10s', 10e9],
    ['1h1m1s1ms', 3661001e6],
  ];
  for (const [text, ns] of cases) t.equal(parseDurationNs(text, '--health-interval'), ns, text);
});

t.test('durations: refused with the flag named', async (t) => {
  const cases: [string, string][] = [
    ['30', 'invalid argument "30" for "--health-interval" flag: missing unit in duration "30"'],
    ['abc', 'invalid argument "abc" for "--health-interval" flag: invalid duration "abc"'],
    ['', 'invalid argument "" for "--health-interval" flag: invalid duration ""'],
    ['10x', 'invalid argument "10x" for "--health-interval" flag: unknown unit "x" in duration "10x"'],
    ['-5s', 'invalid argument "-5s" for "--health-interval" flag: duration cannot be negative'],
    ['1m30', 'invalid argument "1m30" for "--health-interval" flag: missing unit in duration "1m30"'],
    ['.s', 'invalid argument ".s" for "--health-interval" flag: invalid duration ".s"'],
    ['s', 'invalid argument "s" for "--health-interval" flag: invalid duration "s"'],
  ];
  for (const [text, msg] of cases)
    t.equal(
      errorOf(() => parseDurationNs(text, '--health-interval')),
      msg,
      JSON.stringify(text),
    );
});

t.test('durations: printed as Go prints them', async (t) => {
  const cases: [number, string][] = [
    [0, '0s'],
    [30e9, '30s'],
    [90e9, '1m30s'],
    [500e6, '500ms'],
    [5400e9, '1h30m0s'],
    [1500, '1.5µs'],
    [1.5e9, '1.5s'],
  ];
  for (const [ns, text] of cases) t.equal(formatDurationNs(ns), text, text);
});

t.test('whole numbers', async (t) => {
  t.equal(parseUint('0', '--replicas'), 0);
  t.equal(parseUint('12', '--replicas'), 12);
  const bad: [string, string][] = [
    ['-1', 'invalid argument "-1" for "--replicas" flag: want a non-negative integer'],
    ['1.5', 'invalid argument "1.5" for "--replicas" flag: want a non-negative integer'],
    ['1e3', 'invalid argument "1e3" for "--replicas" flag: want a non-negative integer'],
    ['', 'invalid argument "" for "--replicas" flag: want a non-negative integer'],
    ['three', 'invalid argument "three" for "--replicas" flag: want a non-negative integer'],
    ['99999999999999999999', 'invalid argument "99999999999999999999" for "--replicas" flag: want an integer from 0 to 9007199254740991'],
  ];
  for (const [text, msg] of bad)
    t.equal(
      errorOf(() => parseUint(text, '--replicas')),
      msg,
      text,
    );
  t.equal(
    errorOf(() => parseUint('101', '--x', 100)),
    'invalid argument "101" for "--x" flag: want an integer from 0 to 100',
  );
});

t.test('labels, options, aux addresses', async (t) => {
  t.same(parseLabel('tier=front'), ['tier', 'front']);
  t.same(parseLabel('flag'), ['flag', '']);
  t.same(parseLabel('a=b=c'), ['a', 'b=c']);
  t.equal(
    errorOf(() => parseLabel('=x')),
    'invalid argument "=x" for "--label" flag: label name is empty',
  );
  t.same(parseOpt('com.docker.network.driver.mtu=1400', '-o'), ['com.docker.network.driver.mtu', '1400']);
  t.equal(
    errorOf(() => parseOpt('=1', '--opt')),
    'invalid argument "=1" for "--opt" flag: option name is empty',
  );
  t.same(parseAuxAddress('router=10.0.9.2'), ['router', '10.0.9.2']);
  t.same(parseAuxAddress('v6=2001:db8::2'), ['v6', '2001:db8::2']);
  t.equal(
    errorOf(() => parseAuxAddress('router')),
    'invalid argument "router" for "--aux-address" flag: want name=IP',
  );
  t.equal(
    errorOf(() => parseAuxAddress('=10.0.0.1')),
    'invalid argument "=10.0.0.1" for "--aux-address" flag: auxiliary address name is empty',
  );
  t.equal(
    errorOf(() => parseAuxAddress('r=10.0.0.300')),
    'invalid argument "r=10.0.0.300" for "--aux-address" flag: "10.0.0.300" is not an IP address',
  );
  t.same(
    auxAddressesToRecord([
      ['a', '10.0.0.2'],
      ['b', '10.0.0.3'],
      ['a', '10.0.0.2'],
    ]),
    { a: '10.0.0.2', b: '10.0.0.3' },
  );
  t.equal(
    errorOf(() =>
      auxAddressesToRecord([
        ['a', '10.0.0.2'],
        ['a', '10.0.0.3'],
      ]),
    ),
    'auxiliary address name "a" given twice',
  );
  t.same(
    pairsToRecord([
      ['a', '1'],
      ['a', '2'],
    ]),
    { a: '2' },
  );
});

t.test('environment variables', async (t) => {
  const env = { HOME: '/root', EMPTY: '' };
  t.equal(parseEnv('A=1', env), 'A=1');
  t.equal(parseEnv('A=', env), 'A=');
  t.equal(parseEnv('A=b=c', env), 'A=b=c');
  t.equal(parseEnv('HOME', env), 'HOME=/root');
  t.equal(parseEnv('EMPTY', env), 'EMPTY=');
  t.equal(parseEnv('UNSET', env), 'UNSET');
  t.equal(
    errorOf(() => parseEnv('=x', env)),
    'invalid argument "=x" for "--env" flag: variable name is empty',
  );
  t.equal(
    errorOf(() => parseEnv('A B=1', env)),
    'invalid argument "A B=1" for "--env" flag: variable name contains whitespace',
  );
  t.equal(parseEnvName('A'), 'A');
  t.equal(parseEnvName('A=1'), 'A');
  t.equal(
    errorOf(() => parseEnvName('')),
    'invalid argument "" for "--env-rm" flag: want a variable name',
  );
});

t.test('scale arguments', async (t) => {
  t.same(parseScaleArg('web=5'), { service: 'web', replicas: 5 });
  t.same(parseScaleArg('web=0'), { service: 'web', replicas: 0 });
  t.same(parseScaleArgs(['web=5', 'api=2']), [
    { service: 'web', replicas: 5 },
    { service: 'api', replicas: 2 },
  ]);
  const bad: [string[], string][] = [
    [['web'], 'invalid scale specifier "web": want SERVICE=REPLICAS'],
    [['=3'], 'invalid scale specifier "=3": the service name is empty'],
    [['web=-1'], 'invalid replicas value "-1" for service web: want a non-negative integer'],
    [['web=abc'], 'invalid replicas value "abc" for service web: want a non-negative integer'],
    [['web='], 'invalid replicas value "" for service web: want a non-negative integer'],
    [['web=1', 'web=2'], 'service web is named twice'],
    [[], 'service scale needs at least one SERVICE=REPLICAS argument'],
  ];
  for (const [args, msg] of bad)
    t.equal(
      errorOf(() => parseScaleArgs(args)),
      msg,
      args.join(' '),
    );
});

t.test('--publish: accepted forms', async (t) => {
  const tcp = (publishedPort: number, targetPort: number, protocol = 'tcp', publishMode = 'ingress') => ({
    protocol,
    targetPort,
    publishedPort,
    publishMode,
  });
  const cases: [string, unknown[]][] = [
    ['8080:80', [tcp(8080, 80)]],
    ['8080:80/udp', [tcp(8080, 80, 'udp')]],
    ['8080:80/UDP', [tcp(8080, 80, 'udp')]],
    ['8080:80/sctp', [tcp(8080, 80, 'sctp')]],
    ['80', [tcp(0, 80)]],
    [':80', [tcp(0, 80)]],
    ['53/udp', [tcp(0, 53, 'udp')]],
    ['0:80', [tcp(0, 80)]],
    ['8080-8081:80-81', [tcp(8080, 80), tcp(8081, 81)]],
    ['80-81', [tcp(0, 80), tcp(0, 81)]],
    ['published=8080,target=80', [tcp(8080, 80)]],
    ['target=80', [tcp(0, 80)]],
    ['published=8080,target=80,protocol=udp,mode=host', [tcp(8080, 80, 'udp', 'host')]],
    ['mode=ingress, target=80 ,published=30000', [tcp(30000, 80)]],
    ['published=,target=80', [tcp(0, 80)]],
  ];
  for (const [spec, want] of cases) t.same(parsePublish(spec), want, spec);
});

t.test('--publish: malformed values are refused with a reason', async (t) => {
  const cases: [string, string][] = [
    ['', 'invalid --publish "": empty value'],
    ['abc', 'invalid --publish "abc": target port "abc" is not a number'],
    ['8080:abc', 'invalid --publish "8080:abc": target port "abc" is not a number'],
    ['x:80', 'invalid --publish "x:80": published port "x" is not a number'],
    ['8080:', 'invalid --publish "8080:": the target port is missing'],
    ['70000:80', 'invalid --publish "70000:80": published port 70000 is out of range 0-65535'],
    ['8080:0', 'invalid --publish "8080:0": target port 0 is out of range 1-65535'],
    ['8080:80/icmp', 'invalid --publish "8080:80/icmp": protocol "icmp" is not one of tcp, udp, sctp'],
    ['8080:80/', 'invalid --publish "8080:80/": protocol "" is not one of tcp, udp, sctp'],
    [
      '127.0.0.1:8080:80',
      'invalid --publish "127.0.0.1:8080:80": a host IP is not supported: published ports listen on every address of every node',
    ],
    ['8080-8082:80-81', 'invalid --publish "8080-8082:80-81": the published and target port ranges differ in length'],
    ['8081-8080:80-81', 'invalid --publish "8081-8080:80-81": published port range 8081-8080 ends before it starts'],
    ['published=8080', 'invalid --publish "published=8080": missing mandatory field "target"'],
    [
      'published=8080,target=80,foo=1',
      'invalid --publish "published=8080,target=80,foo=1": unknown field "foo" (want published, target, protocol, mode)',
    ],
    ['published=8080,target', 'invalid --publish "published=8080,target": field "target" is not key=value'],
    ['target=80,mode=bridge', 'invalid --publish "target=80,mode=bridge": publish mode "bridge" is not one of ingress, host'],
    ['target=80,protocol=icmp', 'invalid --publish "target=80,protocol=icmp": protocol "icmp" is not one of tcp, udp, sctp'],
    ['target=80,target=81', 'invalid --publish "target=80,target=81": field "target" given twice'],
    ['target=-1', 'invalid --publish "target=-1": target port "-1" is not a number'],
    ['target=80,published=65536', 'invalid --publish "target=80,published=65536": published port 65536 is out of range 0-65535'],
  ];
  for (const [spec, msg] of cases)
    t.equal(
      errorOf(() => parsePublish(spec)),
      msg,
      spec,
    );
  t.equal(
    errorOf(() => parsePublish('x', '--publish-add')),
    'invalid --publish-add "x": target port "x" is not a number',
  );
});

t.test('--publish: duplicates across values', async (t) => {
  t.equal(parsePublishList(['8080:80', '8080:80/udp', '81']).length, 3);
  t.equal(
    errorOf(() => parsePublishList(['8080:80', 'published=8080,target=81'])),
    'invalid --publish "published=8080,target=81": published port 8080/tcp is also given by "8080:80"',
  );
});

t.test('--publish-rm matching and port text', async (t) => {
  const port = { protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080 };
  const [byTarget] = parsePublish('80');
  const [both] = parsePublish('8080:80');
  const [other] = parsePublish('9090:80');
  const [udp] = parsePublish('80/udp');
  t.ok(publishRemoveMatches(byTarget!, port));
  t.ok(publishRemoveMatches(both!, port));
  t.notOk(publishRemoveMatches(other!, port));
  t.notOk(publishRemoveMatches(udp!, port));
  t.equal(portSpecText(port), '8080:80/tcp');
  t.equal(portSpecText({ ...port, publishedPort: 0 }), '80/tcp');
});

t.test('round trips over random values (property)', async (t) => {
  const { default: fc } = await import('fast-check');
  const seed = Number(process.env['SHOAL_TEST_SEED'] ?? Date.now() % 2 ** 31);
  t.comment(`seed ${seed} (SHOAL_TEST_SEED=${seed} repeats this run)`);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (ns) => parseDurationNs(formatDurationNs(ns), '--x') === ns),
    { seed, numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.constantFrom('tcp', 'udp', 'sctp'),
      (published, target, protocol) => {
        const [p] = parsePublish(portSpecText({ publishedPort: published, targetPort: target, protocol: protocol as 'tcp' }));
        return (
          p !== undefined &&
          p.publishedPort === published &&
          p.targetPort === target &&
          p.protocol === protocol &&
          p.publishMode === 'ingress'
        );
      },
    ),
    { seed, numRuns: 500 },
  );
  t.pass('properties hold');
});

t.test('--args: words split as a shell splits them, nothing expanded', async (t) => {
  const cases: [string, string[], string][] = [
    ['server.mjs 81', ['server.mjs', '81'], 'blanks separate words'],
    ['', [], 'empty: no words'],
    ['   \t\n ', [], 'blanks only: no words'],
    ['  a \t\t b\n\nc  ', ['a', 'b', 'c'], 'runs of blanks count once, none at the ends'],
    ["-c 'sleep 1000'", ['-c', 'sleep 1000'], 'single quotes group words'],
    ['-c "echo hi there"', ['-c', 'echo hi there'], 'double quotes group words'],
    ['\'a\\b "c"\'', ['a\\b "c"'], 'single quotes keep backslashes and double quotes'],
    ['"it\'s"', ["it's"], 'a single quote inside double quotes'],
    ['"a\\"b" "\\\\" "\\$x" "\\`"', ['a"b', '\\', '$x', '`'], 'inside double quotes a backslash escapes " \\ $ `'],
    ['"\\n\\a"', ['\\n\\a'], 'and stays before anything else'],
    ['a\\ b c\\\\d \\"e\\\'', ['a b', 'c\\d', '"e\''], 'outside quotes a backslash makes the next character ordinary'],
    ['a\\\nb "c\\\nd"', ['ab', 'cd'], 'backslash-newline is removed'],
    ['\'\' "" x', ['', '', 'x'], 'empty quotes are empty words'],
    ['pre"mid dle"\'po st\'end', ['premid dlepo stend'], 'adjacent pieces are one word'],
    ['$HOME * ~ #x', ['$HOME', '*', '~', '#x'], 'no expansion, no comments'],
  ];
  for (const [text, want, why] of cases) t.same(splitWords(text, '--args'), want, `${JSON.stringify(text)}: ${why}`);
});

t.test('--args: an unterminated quote or a lone trailing backslash is refused', async (t) => {
  t.equal(
    errorOf(() => splitWords("-c 'sleep 1000", '--args')),
    'invalid argument "-c \'sleep 1000" for "--args" flag: the single quote at position 4 is not closed',
  );
  t.equal(
    errorOf(() => splitWords('say "hi', '--args')),
    'invalid argument "say \\"hi" for "--args" flag: the double quote at position 5 is not closed',
  );
  t.match(
    errorOf(() => splitWords('"a\\"', '--args')),
    /the double quote at position 1 is not closed/,
    'an escaped quote does not close',
  );
  t.match(
    errorOf(() => splitWords("'a'\\''", '--args')),
    /the single quote at position 6 is not closed/,
    "an escaped ' opens nothing",
  );
  t.match(
    errorOf(() => splitWords('a\\', '--args')),
    /it ends in a backslash that escapes nothing/,
  );
});

t.test('--args: single-quoting each word and joining them splits back (property)', async (t) => {
  const { default: fc } = await import('fast-check');
  const seed = Number(process.env['SHOAL_TEST_SEED'] ?? Date.now() % 2 ** 31);
  t.comment(`seed ${seed} (SHOAL_TEST_SEED=${seed} repeats this run)`);
  const quote = (w: string): string => `'${w.replaceAll("'", "'\\''")}'`;
  const char = fc.constantFrom('a', 'Z', '0', ' ', '\t', '\n', "'", '"', '\\', '$', '#', '*', '=');
  fc.assert(
    fc.property(
      fc.array(
        fc.array(char, { maxLength: 8 }).map((cs) => cs.join('')),
        { maxLength: 6 },
      ),
      (words) => {
        const got = splitWords(words.map(quote).join(' \t '), '--args');
        return JSON.stringify(got) === JSON.stringify(words);
      },
    ),
    { seed, numRuns: 500 },
  );
  t.pass('properties hold');
});
