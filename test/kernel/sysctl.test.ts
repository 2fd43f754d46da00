/**
 * Conformance of FakeSysctl with /proc/sys/net of a fresh namespace: every sysctl the fake
 * knows must read the same in the real namespace, after each step of one script of
 * writes and link creations run against both. Also: the real Sysctl is per namespace.
 * Needs root; in CI it must not skip.
 */
import t from 'tap';
import { throwawayNetns } from '../support/kernel.ts';
import { execInNetns } from '../../src/kernel/exec.ts';
import { FakeSysctl } from '../../src/kernel/fake-sysctl.ts';
import { createSysctl, sysctlPath } from '../../src/kernel/sysctl.ts';

/** The real values of every name the fake knows, read in one process, in the fake's dump form. */
async function realDump(netns: string, fake: FakeSysctl): Promise<string> {
  const names = fake
    .dump()
    .split('\n')
    .map((l) => l.slice(0, l.indexOf(' = ')));
  const script = 'for f in "$@"; do printf "%s\\0" "$(cat "/proc/sys/$f" 2>&1)"; done';
  const { stdout } = await execInNetns(netns, 'sh', ['-c', script, 'sh', ...names.map((n) => sysctlPath(n))]);
  const values = stdout.split('\0');
  return names
    .map((n, i) => `${n} = ${values[i]}`)
    .sort()
    .join('\n');
}

t.test('FakeSysctl and the kernel agree', async (t) => {
  const netns = throwawayNetns(t, 'sysctl');
  if (!netns) return;
  const real = createSysctl(netns);
  const fake = new FakeSysctl({ netns });
  const link = async (a: string, b: string): Promise<void> => {
    await execInNetns(netns, 'ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    fake.addInterface(a);
    fake.addInterface(b);
  };
  const same = async (what: string): Promise<boolean> => t.equal(await realDump(netns, fake), fake.dump(), what);

  await same('defaults of a new namespace');
  await link('va', 'vb.1');
  await same('a new link copies default');
  const writes: Array<[string, string | number]> = [
    ['net.ipv4.ip_forward', 1],
    ['net.ipv4.conf.va.forwarding', 0],
    ['net.ipv4.conf.default.forwarding', 0],
    ['net.ipv4.conf.va.rp_filter', 1],
    ['net.ipv4.conf.default.rp_filter', 2],
    ['net.ipv4.conf.default.route_localnet', 1],
    ['net.ipv4.conf.all.rp_filter', 1],
    ['net.ipv4.conf.vb/1.arp_ignore', 1],
    ['net/ipv4/conf/vb.1/arp_announce', 2],
    ['net.ipv4.conf.default.arp_ignore', 2],
    ['net.ipv6.conf.all.forwarding', 1],
    ['net.ipv6.conf.default.accept_ra', 0],
    ['net.ipv4.ip_local_port_range', '20000 30000'],
    ['net.netfilter.nf_conntrack_tcp_be_liberal', 1],
    ['net.bridge.bridge-nf-call-iptables', 0],
  ];
  for (const [name, value] of writes) {
    await real.set(name, value);
    await fake.set(name, value);
    await same(`after ${name} = ${value}`);
  }
  await link('vc', 'vd');
  await same('links made after the writes');
  await real.set('net.ipv4.conf.all.forwarding', 0);
  await fake.set('net.ipv4.conf.all.forwarding', 0);
  await same('after conf.all.forwarding = 0');
  await execInNetns(netns, 'ip', ['link', 'del', 'va']);
  fake.removeInterface('va');
  fake.removeInterface('vb.1');
  await same('after deleting a veth (both ends go)');

  // Errors.
  for (const s of [real, fake]) {
    await t.rejects(s.get('net.ipv4.nosuch'), { code: 'SHOAL_ERR_NOT_FOUND' });
    await t.rejects(s.set('net.ipv4.nosuch', 1), { code: 'SHOAL_ERR_NOT_FOUND' });
    await t.rejects(s.get('net.ipv4.conf.va.rp_filter'), { code: 'SHOAL_ERR_NOT_FOUND' });
    await t.rejects(s.set('net.ipv4.ip_forward', 'abc'), { code: 'SHOAL_ERR_SYSCTL', errno: 'EINVAL' });
    await t.rejects(s.set('net.netfilter.nf_conntrack_max', 1000), { code: 'SHOAL_ERR_SYSCTL', errno: 'EACCES' });
    await t.rejects(s.get('net/../kernel/hostname'), { code: 'SHOAL_ERR_BAD_SYSCTL' });
    await t.rejects(s.get('kernel.hostname'), { code: 'SHOAL_ERR_BAD_SYSCTL' });
  }
  await t.rejects(real.get('net.ipv4.conf'), { code: 'SHOAL_ERR_NOT_FOUND', errno: 'EISDIR' });
  t.equal(await real.get('net.ipv4.ip_local_port_range'), '20000\t30000');
});

t.test('sysctls are per namespace', async (t) => {
  const a = throwawayNetns(t, 'sysa');
  const b = throwawayNetns(t, 'sysb');
  if (!a || !b) return;
  const host = await createSysctl('').get('net.ipv4.ip_forward');
  await createSysctl(a).set('net.ipv4.ip_forward', 1);
  t.equal(await createSysctl(a).get('net.ipv4.ip_forward'), '1');
  t.equal(await createSysctl(b).get('net.ipv4.ip_forward'), '0', 'another namespace is unchanged');
  t.equal(await createSysctl('').get('net.ipv4.ip_forward'), host, 'the host is unchanged');
  await t.rejects(createSysctl('shoal-no-such-netns').get('net.ipv4.ip_forward'), { code: 'SHOAL_ERR_NETNS_NOT_FOUND' });
});
