import t from 'tap';
import { FakeSysctl } from '../../../src/kernel/fake-sysctl.ts';
import { sysctlDottedName, sysctlPath } from '../../../src/kernel/sysctl.ts';

t.test('names: dotted and slashed forms, validation', async (t) => {
  t.equal(sysctlPath('net.ipv4.ip_forward'), 'net/ipv4/ip_forward');
  t.equal(sysctlPath('net/ipv4/ip_forward'), 'net/ipv4/ip_forward');
  t.equal(
    sysctlPath('net.ipv4.conf.eth0/100.rp_filter'),
    'net/ipv4/conf/eth0.100/rp_filter',
    'a slash in a dotted name is a dot in the component',
  );
  t.equal(sysctlPath('net/ipv4/conf/eth0.100/rp_filter'), 'net/ipv4/conf/eth0.100/rp_filter', 'dots in a slashed name are literal');
  t.equal(sysctlPath('net.bridge.bridge-nf-call-iptables'), 'net/bridge/bridge-nf-call-iptables');
  t.equal(sysctlDottedName('net/ipv4/conf/eth0.100/rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
  for (const bad of [
    '',
    'net..ipv4',
    'net/../kernel/x',
    'net.ipv4.ip_forward.',
    '.net',
    'net ipv4',
    'net.ipv4.$x',
    'net/ipv4/conf/../../x',
    'net.ipv4.conf../.x',
  ]) {
    t.throws(() => sysctlPath(bad), { code: 'SHOAL_ERR_BAD_SYSCTL' }, JSON.stringify(bad));
  }
  t.equal(sysctlPath('kernel.hostname'), 'kernel/hostname', 'any sysctl in the current namespace');
  t.throws(() => sysctlPath('kernel.hostname', 'sb-1'), { code: 'SHOAL_ERR_BAD_SYSCTL', message: /global to the host/ });
});

t.test('defaults of a new namespace', async (t) => {
  const s = new FakeSysctl();
  t.equal(await s.get('net.ipv4.ip_forward'), '0');
  t.equal(await s.get('net.ipv4.conf.all.rp_filter'), '0');
  t.equal(await s.get('net/ipv4/conf/lo/rp_filter'), '0');
  t.equal(await s.get('net.netfilter.nf_conntrack_max'), '262144');
  t.equal(await s.get('net.bridge.bridge-nf-call-iptables'), '1');
  t.equal(await s.get('net.ipv4.ip_local_port_range'), '32768\t60999');
  await t.rejects(s.get('net.ipv4.conf.eth0.rp_filter'), { code: 'SHOAL_ERR_NOT_FOUND' }, 'no such interface yet');
  await t.rejects(s.get('net.ipv4.nosuch'), { code: 'SHOAL_ERR_NOT_FOUND' });
  await t.rejects(s.set('net.ipv4.nosuch', 1), { code: 'SHOAL_ERR_NOT_FOUND' });
  await t.rejects(s.get('net..x'), { code: 'SHOAL_ERR_BAD_SYSCTL' });
  await t.rejects(s.get('kernel.hostname'), { code: 'SHOAL_ERR_BAD_SYSCTL' });
});

t.test('values', async (t) => {
  const s = new FakeSysctl();
  await s.set('net.ipv4.ip_local_port_range', '1024 2048');
  t.equal(await s.get('net.ipv4.ip_local_port_range'), '1024\t2048', 'vectors read back tab-separated');
  await t.rejects(s.set('net.ipv4.ip_forward', 'abc'), { code: 'SHOAL_ERR_SYSCTL', errno: 'EINVAL' });
  await t.rejects(s.set('net.ipv4.ip_forward', 1.5), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  await t.rejects(s.set('net.ipv4.ip_forward', '1\n0'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  t.equal(await s.get('net.ipv4.ip_forward'), '0', 'refused writes change nothing');
  s.define('net.ipv4.vs.conntrack', 0);
  await s.set('net.ipv4.vs.conntrack', 1);
  t.equal(await s.get('net.ipv4.vs.conntrack'), '1', 'a defined sysctl works');
  t.same(s.calls, { get: 3, set: 5 });
});

t.test('kernel semantics: forwarding and default propagation', async (t) => {
  const s = new FakeSysctl({ interfaces: ['eth0', 'eth0.100'] });
  await s.set('net.ipv4.ip_forward', 1);
  for (const scope of ['all', 'default', 'lo', 'eth0', 'eth0/100']) {
    t.equal(await s.get(`net.ipv4.conf.${scope}.forwarding`), '1', `ip_forward sets ${scope}.forwarding`);
  }
  await s.set('net.ipv4.conf.all.forwarding', 0);
  t.equal(await s.get('net.ipv4.ip_forward'), '0', 'conf.all.forwarding is ip_forward');
  await s.set('net.ipv4.conf.eth0.forwarding', 1);
  await s.set('net.ipv4.conf.default.forwarding', 0);
  t.equal(await s.get('net.ipv4.conf.eth0.forwarding'), '1', 'default.forwarding does not propagate');

  await s.set('net.ipv4.conf.eth0.rp_filter', 1);
  await s.set('net.ipv4.conf.default.rp_filter', 2);
  t.equal(await s.get('net.ipv4.conf.eth0.rp_filter'), '1', 'an interface written directly keeps its value');
  t.equal(await s.get('net.ipv4.conf.eth0/100.rp_filter'), '2', 'others follow default');
  t.equal(await s.get('net.ipv4.conf.all.rp_filter'), '0', 'all is separate');
  await s.set('net.ipv4.conf.default.route_localnet', 1);
  t.equal(await s.get('net.ipv4.conf.lo.route_localnet'), '0', 'route_localnet does not propagate from default');

  s.addInterface('veth1');
  t.equal(await s.get('net.ipv4.conf.veth1.rp_filter'), '2', 'a new interface copies default');
  t.equal(await s.get('net.ipv4.conf.veth1.route_localnet'), '1');
  await s.set('net.ipv6.conf.all.forwarding', 1);
  t.equal(await s.get('net.ipv6.conf.default.forwarding'), '1');
  t.equal(await s.get('net.ipv6.conf.veth1.forwarding'), '1');
  await s.set('net.ipv6.conf.default.accept_ra', 0);
  t.equal(await s.get('net.ipv6.conf.veth1.accept_ra'), '1', 'IPv6 default affects only new interfaces');
  s.removeInterface('veth1');
  await t.rejects(s.get('net.ipv4.conf.veth1.rp_filter'), { code: 'SHOAL_ERR_NOT_FOUND' });
  t.match(s.dump(), /^net\.ipv4\.conf\.eth0\/100\.rp_filter = 2$/m);
});
