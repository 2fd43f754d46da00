import { isIP } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { testSeed } from '../../support/seed.ts';
import { isShoalError } from '../../../src/common/errors.ts';
import {
  broadcastBytes,
  bytesEqual,
  canonicalIp,
  formatIp,
  formatIpValue,
  formatV6,
  inPrefix,
  ipToBytes,
  maskToPrefixLen,
  networkBytes,
  parseIp,
  parseIpValue,
  parseV4,
  parseV6,
  requireIp,
} from '../../../src/common/ip.ts';
import * as ipamAddress from '../../../src/ipam/address.ts';

const seed = testSeed();

/** Node's own IPv6 normalisation (WHATWG URL host serialiser), for comparison. */
function urlCanonical(v6: string): string {
  return new URL(`http://[${v6}]/`).hostname.slice(1, -1);
}

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isShoalError(err) ? err.code : 'not a ShoalError';
  }
}

t.test('canonical text: RFC 5952 section 4 cases', async (t) => {
  const cases: [string, string, string][] = [
    ['leading zeros dropped', '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['leading zeros inside a group', '2001:db8:00aa:0a0a:000f:f000:0001:1000', '2001:db8:aa:a0a:f:f000:1:1000'],
    ['lowercase', '2001:DB8::AbCd', '2001:db8::abcd'],
    ['longest zero run compressed', '2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['first of equal runs compressed', '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['a single zero group is not compressed', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['single zero groups stay when a longer run exists', '0:1:0:0:0:1:0:1', '0:1::1:0:1'],
    ['needless "::" for one group expanded', '2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['all zero', '0:0:0:0:0:0:0:0', '::'],
    ['loopback', '0:0:0:0:0:0:0:1', '::1'],
    ['trailing run', 'fd73:686f:616c:0:0:0:0:0', 'fd73:686f:616c::'],
    ['leading run', '0:0:0:0:0:0:0:ffff', '::ffff'],
    ['no zeros', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['"::" standing for one trailing group', '1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['IPv4-mapped, printed in hex (as URLs do)', '::ffff:192.0.2.1', '::ffff:c000:201'],
    ['IPv4-suffixed NAT64 prefix', '64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['IPv4 suffix after six groups', '1:2:3:4:5:6:10.0.0.1', '1:2:3:4:5:6:a00:1'],
    ['zone index dropped', 'fe80::1%eth0', 'fe80::1'],
    ['IPv4', '192.0.2.1', '192.0.2.1'],
    ['IPv4 zero', '0.0.0.0', '0.0.0.0'],
  ];
  for (const [what, input, want] of cases) {
    t.equal(canonicalIp(input), want, `${what}: ${input}`);
    t.equal(formatIp(ipToBytes(input)), want, `${what}: through bytes`);
    const v = parseIpValue(input);
    t.equal(v && formatIpValue(v.family, v.value), want, `${what}: through a bigint`);
    if (want.includes(':') && !input.includes('%')) t.equal(urlCanonical(input), want, `${what}: Node's URL parser agrees`);
  }
});

t.test('text to bytes', async (t) => {
  t.same([...ipToBytes('192.0.2.1')], [192, 0, 2, 1]);
  t.same([...ipToBytes('255.255.255.255')], [255, 255, 255, 255]);
  t.same([...ipToBytes('2001:db8::1')], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.same([...ipToBytes('::ffff:192.0.2.1')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  t.same([...ipToBytes('::')], new Array(16).fill(0));
  t.same(parseIp('10.0.0.1')?.family, 4);
  t.same(parseIp('::1')?.family, 6);
  const a = ipToBytes('10.0.0.1');
  a[3] = 9;
  t.same([...ipToBytes('10.0.0.1')], [10, 0, 0, 1], 'every call returns a fresh buffer');
});

t.test('refused text', async (t) => {
  const bad = [
    '',
    ' ',
    '1',
    '10.0.0',
    '10.0.0.0.1',
    '10.0.0.256',
    '010.0.0.1',
    '10.0.0.-1',
    '10..0.1',
    ' 10.0.0.1',
    '10.0.0.1 ',
    'a.b.c.d',
    '1e1.0.0.1',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7',
    '1::2:3:4:5:6:7:8',
    '::1:',
    ':1::',
    '1:2:3:4:5:6::1.2.3.4',
    '::ffff:01.2.3.4',
    '::ffff:1.2.3',
    '::1.2.3.4:5',
    'fe80::1%',
    'fe80::1%a%b',
    'fe80::1%a_b',
    '10.0.0.1%eth0',
    '[::1]',
    '::1/128',
  ];
  for (const text of bad) {
    t.equal(parseIp(text), undefined, `refuses ${JSON.stringify(text)}`);
    t.equal(parseIpValue(text), undefined, `refuses ${JSON.stringify(text)} as a value`);
    t.equal(isIP(text), 0, `node:net refuses ${JSON.stringify(text)} too`);
  }
  t.equal(parseIp(undefined as unknown as string), undefined, 'not a string');
  t.equal(
    errorCode(() => requireIp('nope')),
    'SHOAL_ERR_BAD_ADDRESS',
  );
  t.equal(
    errorCode(() => ipToBytes('10.0.0.256')),
    'SHOAL_ERR_BAD_ADDRESS',
  );
  t.equal(
    errorCode(() => canonicalIp('::g')),
    'SHOAL_ERR_BAD_ADDRESS',
  );
  t.throws(() => requireIp('x', 'gateway'), { message: 'gateway "x" is not an IPv4 or IPv6 address' });
});

t.test('formatIp of a length that is no address prints hex', async (t) => {
  t.equal(formatIp(Uint8Array.of(1, 2, 0xab)), '0102ab');
  t.equal(formatIp(Uint8Array.of()), '');
  t.equal(formatIp(Buffer.from([9, 10, 11, 12, 13]).subarray(1, 5)), '10.11.12.13', 'a view into a larger buffer');
});

t.test('prefixes', async (t) => {
  const text = (b: Uint8Array): string => formatIp(b);
  t.equal(text(networkBytes(ipToBytes('10.1.2.3'), 16)), '10.1.0.0');
  t.equal(text(networkBytes(ipToBytes('10.1.2.3'), 0)), '0.0.0.0');
  t.equal(text(networkBytes(ipToBytes('10.1.2.3'), 32)), '10.1.2.3');
  t.equal(text(networkBytes(ipToBytes('10.1.2.255'), 25)), '10.1.2.128');
  t.equal(text(networkBytes(ipToBytes('2001:db8:1:2:3:4:5:6'), 64)), '2001:db8:1:2::');
  t.equal(text(networkBytes(ipToBytes('2001:db8:1:2:3:4:5:6'), 127)), '2001:db8:1:2:3:4:5:6');
  t.equal(text(broadcastBytes(ipToBytes('10.1.2.3'), 24)), '10.1.2.255');
  t.equal(text(broadcastBytes(ipToBytes('10.1.2.3'), 20)), '10.1.15.255');
  t.equal(text(broadcastBytes(ipToBytes('10.1.2.3'), 32)), '10.1.2.3');
  const input = ipToBytes('10.1.2.3');
  networkBytes(input, 8);
  broadcastBytes(input, 8);
  t.equal(text(input), '10.1.2.3', 'inputs are not modified');

  const net = networkBytes(ipToBytes('192.0.2.0'), 24);
  t.ok(inPrefix(ipToBytes('192.0.2.77'), net, 24));
  t.notOk(inPrefix(ipToBytes('192.0.3.1'), net, 24));
  t.ok(inPrefix(ipToBytes('192.0.3.1'), networkBytes(ipToBytes('192.0.0.0'), 22), 22));
  t.ok(inPrefix(ipToBytes('8.8.8.8'), ipToBytes('0.0.0.0'), 0), 'the default route holds everything');
  t.notOk(inPrefix(ipToBytes('::ffff:192.0.2.77'), net, 24), 'another family never matches');
  t.ok(inPrefix(ipToBytes('fd00:1::5'), ipToBytes('fd00:1::'), 64));
  t.notOk(inPrefix(ipToBytes('fd00:2::5'), ipToBytes('fd00:1::'), 64));

  t.ok(bytesEqual(ipToBytes('::1'), ipToBytes('0::0:1')));
  t.notOk(bytesEqual(ipToBytes('0.0.0.1'), ipToBytes('::1')));

  const masks: [string, number][] = [
    ['255.255.255.0', 24],
    ['255.255.254.0', 23],
    ['255.255.255.255', 32],
    ['0.0.0.0', 0],
    ['128.0.0.0', 1],
    ['255.255.255.252', 30],
    ['255.0.255.0', -1],
    ['255.255.0.1', -1],
    ['254.255.0.0', -1],
    ['ffff:ffff:ffff:ffff::', 64],
    ['ffff:fffe::', 31],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 128],
    ['::', 0],
    ['ffff::1', -1],
  ];
  for (const [mask, len] of masks) t.equal(maskToPrefixLen(ipToBytes(mask)), len, `mask ${mask}`);
});

t.test('IPAM uses these same codecs', async (t) => {
  t.equal(ipamAddress.parseV4, parseV4);
  t.equal(ipamAddress.parseV6, parseV6);
  t.equal(ipamAddress.formatV6, formatV6);
  t.equal(ipamAddress.formatAddress, formatIpValue);
  t.equal(ipamAddress.parseAddress('fe80::1%eth0'), undefined, 'IPAM still refuses a zone index');
  t.equal(ipamAddress.parseAddress('fe80::1')?.value, parseIpValue('fe80::1')?.value);
});

t.test('property: 16 random bytes -> text -> the same bytes, as Node would write them', async (t) => {
  // Zero-heavy bytes so that zero runs of every length and position occur.
  const byte = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(byte, { minLength: 16, maxLength: 16 }), (random, sparse) => {
      for (const bytes of [random, Uint8Array.from(sparse)]) {
        const text = formatIp(bytes);
        if (isIP(text) !== 6) return false;
        if (!bytesEqual(ipToBytes(text), bytes)) return false;
        if (urlCanonical(text) !== text) return false;
        if (canonicalIp(text) !== text) return false;
        // The uncompressed, zero-padded, upper-case spelling of the same bytes.
        const long = Buffer.from(bytes)
          .toString('hex')
          .toUpperCase()
          .replace(/(....)(?!$)/g, '$1:');
        if (canonicalIp(long) !== text || urlCanonical(long) !== text) return false;
      }
      return true;
    }),
    { seed, numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
      const text = formatIp(bytes);
      return isIP(text) === 4 && bytesEqual(ipToBytes(text), bytes) && text === [...bytes].join('.');
    }),
    { seed },
  );
  t.pass('round trips hold');
});

t.test('property: accepts exactly the text node:net isIP accepts', async (t) => {
  const group = fc.integer({ min: 0, max: 0xffff }).map((v) => v.toString(16));
  const piece = fc.oneof(
    { weight: 6, arbitrary: group },
    { weight: 5, arbitrary: fc.constantFrom(':', ':', '::') },
    { weight: 2, arbitrary: fc.constantFrom('.', '0', '1', '00', '01', '10', '255', '256', '999', '12345', 'fFfF', 'g') },
    { weight: 1, arbitrary: fc.constantFrom('%eth0', '%1', '%', '%a_b', ' ', '/64') },
    { weight: 1, arbitrary: fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((o) => o.join('.')) },
  );
  const candidate = fc.oneof(
    fc.array(piece, { maxLength: 18 }).map((parts) => parts.join('')),
    // Groups with or without '::' and an IPv4 suffix: right and wrong group counts.
    fc
      .tuple(
        fc.array(group, { maxLength: 8 }),
        fc.nat(8),
        fc.boolean(),
        fc.boolean(),
        fc.tuple(fc.nat(256), fc.nat(255), fc.nat(255), fc.nat(255)),
      )
      .map(([groups, at, gap, v4, octets]) => {
        const head = groups.slice(0, at).join(':');
        const tail = [...groups.slice(at), ...(v4 ? [octets.join('.')] : [])].join(':');
        return gap ? `${head}::${tail}` : [head, tail].filter((x) => x !== '').join(':');
      }),
    // Valid addresses with one character changed, inserted or dropped.
    fc
      .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(), fc.constantFrom('', ':', '.', '0', 'a', '::', '1.2.3.4'))
      .map(([bytes, at, insert]) => {
        const s = formatIp(bytes);
        const i = at % (s.length + 1);
        return s.slice(0, i) + insert + s.slice(i + (insert === '' ? 1 : 0));
      }),
  );
  fc.assert(
    fc.property(candidate, (text) => {
      const want = isIP(text);
      const got = parseIp(text);
      if ((got?.family ?? 0) !== want) return false;
      if ((parseIpValue(text)?.family ?? 0) !== want) return false;
      if (got && want === 6 && !text.includes('%') && formatIp(got.bytes) !== urlCanonical(text)) return false;
      return true;
    }),
    { seed, numRuns: 20_000 },
  );
  t.pass('agrees with node:net');
});
