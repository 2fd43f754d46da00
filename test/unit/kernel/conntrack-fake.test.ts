import t from 'tap';
import { conntrackDeleteArgs, parseDeletedCount } from '../../../src/kernel/conntrack.ts';
import { FakeConntrack } from '../../../src/kernel/fake-conntrack.ts';

function table(): FakeConntrack {
  const ct = new FakeConntrack();
  // A client's connection to a VIP, DNATed to backend 10.0.1.5:8080.
  ct.add({
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40000, dport: 80 },
    reply: { src: '10.0.1.5', dst: '10.0.0.9', sport: 8080, dport: 40000 },
  });
  // The same VIP, another backend.
  ct.add({
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40001, dport: 80 },
    reply: { src: '10.0.1.6', dst: '10.0.0.9', sport: 8080, dport: 40001 },
  });
  // DNS to the VIP over UDP, no NAT.
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40002, dport: 53 } });
  ct.add({ protocol: 'udp', orig: { src: 'fd00::9', dst: 'fd00:0::2', sport: 40003, dport: 53 } });
  return ct;
}

t.test('delete by original destination', async (t) => {
  const ct = table();
  t.equal(await ct.deleteByOrigDst('10.0.0.2', { protocol: 'tcp', port: 81 }), 0, 'other port');
  t.equal(await ct.deleteByOrigDst('10.0.0.2', { protocol: 'udp' }), 1);
  t.equal(await ct.deleteByOrigDst('10.0.0.2'), 2);
  t.equal(await ct.deleteByOrigDst('10.0.0.2'), 0, 'nothing left is not an error');
  t.equal(await ct.deleteByOrigDst('fd00::2', { family: 6 }), 1, 'IPv6 addresses compare canonically');
  t.same(ct.list(), []);
});

t.test('delete by reply source (a removed backend)', async (t) => {
  const ct = table();
  t.equal(await ct.deleteByReplySrc('10.0.1.5', { protocol: 'udp' }), 0);
  t.equal(await ct.deleteByReplySrc('10.0.1.5', { protocol: 'tcp', port: 80 }), 0, 'the reply port is the backend port');
  t.equal(await ct.deleteByReplySrc('10.0.1.5', { protocol: 'tcp', port: 8080 }), 1);
  t.equal(await ct.deleteByReplySrc('10.0.0.2'), 1, 'the un-NATed UDP flow replies from the VIP itself');
  t.equal(
    ct.dump(),
    [
      'tcp src=10.0.0.9 dst=10.0.0.2 sport=40001 dport=80 src=10.0.1.6 dst=10.0.0.9 sport=8080 dport=40001',
      'udp src=fd00::9 dst=fd00::2 sport=40003 dport=53 src=fd00::2 dst=fd00::9 sport=53 dport=40003',
    ].join('\n'),
  );
  t.equal(ct.deletes.length, 4);
  t.same(ct.deletes[2], { direction: 'reply-src', address: '10.0.1.5', filter: { protocol: 'tcp', port: 8080 }, deleted: 1 });
});

t.test('validation matches the real implementation', async (t) => {
  const ct = table();
  await t.rejects(ct.deleteByOrigDst('10.0.0.300'), { code: 'SHOAL_ERR_BAD_ADDRESS' });
  await t.rejects(ct.deleteByOrigDst('10.0.0.2', { family: 6 }), { code: 'SHOAL_ERR_BAD_ADDRESS' });
  await t.rejects(ct.deleteByOrigDst('10.0.0.2', { port: 80 }), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: /needs a protocol/ });
  await t.rejects(ct.deleteByReplySrc('10.0.0.2', { protocol: 'tcp', port: 0 }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  t.throws(() => ct.add({ protocol: 'tcp', orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40000, dport: 80 } }), {
    code: 'SHOAL_ERR_ALREADY_EXISTS',
  });
  t.throws(() => ct.add({ protocol: 'tcp', orig: { src: '10.0.0.9', dst: 'fd00::1', sport: 1, dport: 2 } }), {
    code: 'SHOAL_ERR_BAD_ADDRESS',
  });
  t.equal(ct.list().length, 4, 'nothing deleted by refused calls');
});

t.test('command line and output of the conntrack tool', async (t) => {
  t.same(conntrackDeleteArgs('orig-dst', '10.0.0.2', { protocol: 'tcp', port: 80 }), [
    '-D',
    '-d',
    '10.0.0.2',
    '-p',
    'tcp',
    '--dport',
    '80',
  ]);
  t.same(conntrackDeleteArgs('reply-src', '10.0.1.5', { protocol: 'udp', port: 53 }), [
    '-D',
    '--reply-src',
    '10.0.1.5',
    '-p',
    'udp',
    '--reply-port-src',
    '53',
  ]);
  t.same(conntrackDeleteArgs('orig-dst', 'fd00::2', {}), ['-D', '-d', 'fd00::2']);
  t.equal(parseDeletedCount('conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n'), 3);
  t.equal(parseDeletedCount('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n'), 0);
  t.equal(parseDeletedCount('conntrack v1.4.7 (conntrack-tools): Operation failed: invalid parameters\n'), undefined);
});
