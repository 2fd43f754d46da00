import t from 'tap';
import { normalizeMac, parseCidr, validateIfname, validateLinkSpec, validateRoute, validateVni } from '../../../src/kernel/validate.ts';

const ok = (t: { doesNotThrow: (fn: () => unknown, msg: string) => void }, fn: () => unknown, what: string): void => {
  t.doesNotThrow(fn, what);
};
type Case = [string, () => unknown, string | null];

t.test('validation table', async (t) => {
  const cases: Case[] = [
    ['15-char name', () => validateIfname('abcdefghijklmno'), null],
    ['16-char name', () => validateIfname('abcdefghijklmnop'), 'SHOAL_ERR_BAD_IFNAME'],
    ['empty name', () => validateIfname(''), 'SHOAL_ERR_BAD_IFNAME'],
    ['slash in name', () => validateIfname('a/b'), 'SHOAL_ERR_BAD_IFNAME'],
    ['space in name', () => validateIfname('a b'), 'SHOAL_ERR_BAD_IFNAME'],
    ['mac upper case', () => normalizeMac('02:42:0A:00:00:01'), null],
    ['mac short', () => normalizeMac('02:42:0a:00:01'), 'SHOAL_ERR_BAD_MAC'],
    ['mac junk', () => normalizeMac('zz:42:0a:00:00:01'), 'SHOAL_ERR_BAD_MAC'],
    ['vni 1', () => validateVni(1), null],
    ['vni max', () => validateVni(16777215), null],
    ['vni 0', () => validateVni(0), 'SHOAL_ERR_BAD_VNI'],
    ['vni too big', () => validateVni(16777216), 'SHOAL_ERR_BAD_VNI'],
    ['vni fraction', () => validateVni(4096.5), 'SHOAL_ERR_BAD_VNI'],
    ['cidr v4', () => parseCidr('10.0.0.0/24'), null],
    ['cidr v6', () => parseCidr('fd00::/64'), null],
    ['cidr no slash', () => parseCidr('10.0.0.0'), 'SHOAL_ERR_BAD_PREFIX'],
    ['cidr prefix 33', () => parseCidr('10.0.0.0/33'), 'SHOAL_ERR_BAD_PREFIX'],
    ['cidr bad ip', () => parseCidr('10.0.0.256/24'), 'SHOAL_ERR_BAD_ADDRESS'],
    ['route needs dev or gw', () => validateRoute({ family: 4, dst: '10.0.0.0/24' }), 'SHOAL_ERR_INVALID_ARGUMENT'],
    ['route family mismatch', () => validateRoute({ family: 4, dst: 'fd00::/64', dev: 'eth0' }), 'SHOAL_ERR_BAD_ADDRESS'],
    ['route default v6', () => validateRoute({ family: 6, dst: 'default', gateway: 'fd00::1' }), null],
    ['vxlan without options', () => validateLinkSpec({ name: 'vx1', kind: 'vxlan' }), 'SHOAL_ERR_INVALID_ARGUMENT'],
    ['veth own peer', () => validateLinkSpec({ name: 'v0', kind: 'veth', veth: { peerName: 'v0' } }), 'SHOAL_ERR_INVALID_ARGUMENT'],
    [
      'veth peer too long',
      () => validateLinkSpec({ name: 'v0', kind: 'veth', veth: { peerName: 'x'.repeat(16) } }),
      'SHOAL_ERR_BAD_IFNAME',
    ],
    ['bad mtu', () => validateLinkSpec({ name: 'b0', kind: 'bridge', mtu: 10 }), 'SHOAL_ERR_BAD_MTU'],
  ];
  for (const [name, fn, code] of cases) {
    if (code === null) ok(t, fn, name);
    else t.throws(fn, { code }, name);
  }
  t.equal(normalizeMac('02:42:0A:00:00:01'), '02:42:0a:00:00:01');
});
