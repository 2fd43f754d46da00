// Element values as FakeNft reads them, one type at a time, printed as `nft -j` prints them.
import t from 'tap';
import { ELEMENT_TYPES, ElementValueError, parseElementValue, typeofType } from '../../../src/kernel/nft-element-values.ts';
import { ParseError, tokenize } from '../../../src/kernel/nft-script.ts';

const chains = new Set(['svc-a']);

function value(types: string[], text: string, interval = false): unknown {
  return parseElementValue(types, tokenize(text), interval, chains);
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    if (err instanceof ParseError) return `ParseError ${err.errno ?? ''}: ${err.message}`;
    if (err instanceof ElementValueError) return `ElementValueError: ${err.message}`;
    return `other: ${String(err)}`;
  }
}

t.test('single values in canonical form', async (t) => {
  t.same(value(['ipv4_addr'], '10.0.0.1'), { json: '10.0.0.1' });
  t.same(value(['ipv6_addr'], 'FD00:0:0::1'), { json: 'fd00::1' }, 'IPv6 printed per RFC 5952');
  t.same(value(['inet_proto'], '6'), { json: 'tcp' }, 'a protocol number with a name prints as the name');
  t.same(value(['inet_proto'], 'icmpv6'), { json: 'ipv6-icmp' });
  t.same(value(['inet_proto'], '200'), { json: 200 });
  t.same(value(['inet_service'], '8080'), { json: 8080 });
  t.same(value(['mark'], '0x10'), { json: 16 });
  t.same(value(['ether_addr'], '02:42:0A:00:01:05'), { json: '02:42:0a:00:01:05' });
  t.same(value(['ifname'], '"eth0"'), { json: 'eth0' }, 'a quoted name');
  t.same(value(['verdict'], 'accept'), { json: { accept: null } });
  t.same(value(['verdict'], 'jump svc-a'), { json: { jump: { target: 'svc-a' } }, chainRef: 'svc-a' });
});

t.test('intervals: prefixes masked, printed as exactly as they can be', async (t) => {
  t.same(value(['ipv4_addr'], '10.1.2.3/8', true), {
    json: { prefix: { addr: '10.0.0.0', len: 8 } },
    interval: [0x0a000000n, 0x0affffffn],
  });
  t.same(value(['ipv4_addr'], '10.0.0.0-10.0.0.255', true), {
    json: { prefix: { addr: '10.0.0.0', len: 24 } },
    interval: [0x0a000000n, 0x0a0000ffn],
  });
  t.same(value(['ipv4_addr'], '10.0.0.1-10.0.0.5', true), {
    json: { range: ['10.0.0.1', '10.0.0.5'] },
    interval: [0x0a000001n, 0x0a000005n],
  });
  t.same(value(['ipv4_addr'], '10.0.0.7', true), { json: '10.0.0.7', interval: [0x0a000007n, 0x0a000007n] });
  t.match(
    errorOf(() => value(['ipv4_addr'], '10.0.0.0/8')),
    /ElementValueError: .*need a set with flags interval/,
  );
  t.match(
    errorOf(() => value(['ipv4_addr'], '10.0.0.5-10.0.0.1', true)),
    /range start is after its end/,
  );
});

t.test('concatenations', async (t) => {
  t.same(value(['ipv4_addr', 'inet_proto', 'inet_service'], '10.0.0.1 . tcp . 80'), { json: { concat: ['10.0.0.1', 'tcp', 80] } });
  t.match(
    errorOf(() => value(['ipv4_addr', 'inet_service'], '10.0.0.1')),
    /ElementValueError: has 1 part\(s\) where the type ipv4_addr \. inet_service has 2/,
  );
});

t.test('bad values', async (t) => {
  t.match(
    errorOf(() => value(['ipv4_addr'], '10.0.0.01')),
    /ElementValueError: "10.0.0.01" is not a valid ipv4_addr/,
    'a leading zero',
  );
  t.match(
    errorOf(() => value(['ipv6_addr'], '::ffff:10.0.0.1')),
    /ElementValueError/,
    'an embedded IPv4 part',
  );
  t.match(
    errorOf(() => value(['inet_service'], 'http')),
    /service names are outside the subset/,
  );
  t.match(
    errorOf(() => value(['inet_proto'], '256')),
    /protocol out of range/,
  );
  t.match(
    errorOf(() => value(['mark'], '0x100000000')),
    /is not a valid mark/,
  );
  t.match(
    errorOf(() => value(['ifname'], 'a-name-too-long-for-linux')),
    /is not a valid ifname/,
  );
  t.match(
    errorOf(() => value(['verdict'], 'jump nowhere')),
    /^ParseError ENOENT: chain nowhere does not exist/,
  );
  t.match(
    errorOf(() => value(['verdict'], 'queue')),
    /is not a valid verdict/,
  );
});

t.test('types and typeof expressions of the subset', async (t) => {
  t.ok(ELEMENT_TYPES.has('ipv4_addr') && ELEMENT_TYPES.has('verdict'));
  t.equal(typeofType(['ip', 'daddr']), 'ipv4_addr');
  t.equal(typeofType(['ip6', 'saddr']), 'ipv6_addr');
  t.equal(typeofType(['th', 'dport']), 'inet_service');
  t.equal(typeofType(['meta', 'l4proto']), 'inet_proto');
  t.equal(typeofType(['numgen', 'random', 'mod', '3']), 'integer');
  t.equal(typeofType(['numgen', 'inc', 'mod', '2', 'offset', '1']), 'integer');
  t.equal(typeofType(['numgen', 'random']), undefined);
  t.equal(typeofType(['ip', 'ttl']), undefined);
});
