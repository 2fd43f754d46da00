import fc from 'fast-check';
import t from 'tap';
import { testSeed } from '../../support/seed.ts';
import { isShoalError } from '../../../src/common/errors.ts';
import { formatMac, isFloodMac, isUnicastMac, macForAddress, macToBytes, normalizeMac, ZERO_MAC } from '../../../src/common/mac.ts';

const seed = testSeed();

t.test('text, bytes and the canonical form', async (t) => {
  t.equal(normalizeMac('02:42:0A:00:01:05'), '02:42:0a:00:01:05');
  t.same([...macToBytes('02:42:0A:00:01:05')], [2, 0x42, 10, 0, 1, 5]);
  t.equal(formatMac(Uint8Array.of(2, 0x42, 10, 0, 1, 5)), '02:42:0a:00:01:05');
  t.equal(formatMac(undefined), ZERO_MAC, 'an absent attribute reads as the zero MAC');
  t.equal(formatMac(Uint8Array.of(1, 2, 3)), ZERO_MAC, 'so does a short one');
  for (const bad of [
    '',
    '02:42:0a:00:01',
    '02:42:0a:00:01:05:06',
    '02-42-0a-00-01-05',
    '0242.0a00.0105',
    '02:42:0a:00:01:5',
    'g2:42:0a:00:01:05',
  ]) {
    let code: string | undefined;
    try {
      macToBytes(bad);
    } catch (err) {
      code = isShoalError(err) ? err.code : 'not a ShoalError';
    }
    t.equal(code, 'SHOAL_ERR_BAD_MAC', `refuses ${JSON.stringify(bad)}`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (bytes) => {
      const text = formatMac(bytes);
      return normalizeMac(text) === text && Buffer.from(bytes).equals(macToBytes(text));
    }),
    { seed },
  );
});

t.test('unicast and flood MACs', async (t) => {
  const cases: [string, boolean][] = [
    [ZERO_MAC, false],
    ['ff:ff:ff:ff:ff:ff', false],
    ['01:00:5e:00:00:01', false],
    ['33:33:00:00:00:01', false],
    ['02:42:0a:00:01:05', true],
    ['00:00:00:00:00:01', true],
    ['fe:ff:ff:ff:ff:ff', true],
  ];
  for (const [mac, unicast] of cases) {
    t.equal(isUnicastMac(mac), unicast, `${mac} unicast`);
    t.equal(isFloodMac(mac), !unicast, `${mac} flood`);
  }
});

t.test("an endpoint's MAC is 02:42 and the last four bytes of its address", async (t) => {
  t.equal(macForAddress('10.0.9.5'), '02:42:0a:00:09:05');
  t.equal(macForAddress('192.0.2.255'), '02:42:c0:00:02:ff');
  t.equal(macForAddress('fd00::a00:905'), '02:42:0a:00:09:05', 'IPv6: the low 32 bits');
  t.equal(macForAddress('FD00:0:0:0:0:0:c000:2ff'), '02:42:c0:00:02:ff', 'any spelling of the same address');
  t.ok(isUnicastMac(macForAddress('255.255.255.255')), 'never a multicast MAC');
  t.throws(() => macForAddress(''), { code: 'SHOAL_ERR_BAD_ADDRESS' });
  t.throws(() => macForAddress('10.0.9'), { code: 'SHOAL_ERR_BAD_ADDRESS' });
});
