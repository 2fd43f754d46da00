import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { testSeed } from '../../support/seed.ts';
import { canonicalAddress, canonicalCidr } from '../../../src/ipam/index.ts';
import {
  bigintToWords,
  formatAddress,
  formatV6,
  parseAddress,
  parseCidr,
  parseV4,
  parseV6,
  wordsToBigint,
} from '../../../src/ipam/address.ts';
import { isShoalError } from '../../../src/common/errors.ts';

const seed = testSeed();

t.test('IPv4 parse and format', async (t) => {
  t.equal(parseV4('10.0.0.5'), 0x0a000005);
  t.equal(parseV4('255.255.255.255'), 0xffffffff);
  t.equal(parseV4('0.0.0.0'), 0);
  for (const bad of [
    '',
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
  ]) {
    t.equal(parseV4(bad), -1, `refuses ${JSON.stringify(bad)}`);
  }
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (v) => {
      const text = formatAddress(4, BigInt(v));
      return isIPv4(text) && parseV4(text) === v;
    }),
    { seed },
  );
});

t.test('IPv6 canonical text (RFC 5952)', async (t) => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['fd73:686f:616c::', 'fd73:686f:616c::'],
    ['fd00:0000:0000:0001::', 'fd00:0:0:1::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ];
  for (const [input, want] of cases) t.equal(canonicalAddress(input), want, input);
  for (const bad of [
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7',
    '1::2:3:4:5:6:7:8',
    'fe80::1%eth0',
    '::1:',
  ]) {
    const w = new Uint16Array(8);
    t.notOk(parseV6(bad, w), `refuses ${JSON.stringify(bad)}`);
  }
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }), (words) => {
      const text = formatV6(words);
      const back = new Uint16Array(8);
      // Node agrees it is IPv6 and it parses back to the same words.
      return isIPv6(text) && parseV6(text, back) && back.every((w, i) => w === words[i]) && canonicalAddress(text) === text;
    }),
    { seed, numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
      (v) => wordsToBigint(bigintToWords(v)) === v && parseAddress(formatAddress(6, v))?.value === v,
    ),
    { seed },
  );
});

t.test('CIDR parsing and its error codes', async (t) => {
  t.equal(canonicalCidr('10.0.0.0/24'), '10.0.0.0/24');
  t.equal(canonicalCidr('FD00:0::/64'), 'fd00::/64');
  const c = parseCidr('10.1.0.0/16');
  t.equal(c.size, 65536n);
  t.equal(formatAddress(4, c.last), '10.1.255.255');
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return isShoalError(err) ? err.code : 'not a ShoalError';
    }
  };
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/',
    '10.0.0/24',
    'fd00::/129',
    'x/8',
    '10.0.0.0/024',
    '10.0.0.0/24/1',
  ]) {
    t.equal(
      code(() => parseCidr(bad)),
      'SHOAL_ERR_IPAM_BAD_CIDR',
      bad,
    );
  }
  t.equal(
    code(() => parseCidr('10.0.0.1/24')),
    'SHOAL_ERR_IPAM_HOST_BITS_SET',
  );
  t.equal(
    code(() => parseCidr('fd00::1/64')),
    'SHOAL_ERR_IPAM_HOST_BITS_SET',
  );
  try {
    parseCidr('10.0.0.1/24');
  } catch (err) {
    t.match((err as Error).message, 'did you mean 10.0.0.0/24?');
  }
  t.equal(
    code(() => canonicalAddress('10.0.0')),
    'SHOAL_ERR_IPAM_BAD_ADDRESS',
  );
});
