/** Which upstreams a sandbox uses (src/dns/upstream.ts). */
import t from 'tap';
import { MAX_UPSTREAMS, parseUpstream, resolvConfNameservers, sandboxUpstreams } from '../../../src/dns/upstream.ts';

const hostConf = `# generated
nameserver 127.0.0.53
nameserver 192.0.2.53
nameserver fe80::1%eth0
search example.org
nameserver 198.51.100.53
nameserver 203.0.113.53
options edns0
`;

t.test('resolv.conf nameservers, in order, zone index dropped', async (t) => {
  t.same(resolvConfNameservers(hostConf), ['127.0.0.53', '192.0.2.53', 'fe80::1', '198.51.100.53', '203.0.113.53']);
  t.same(resolvConfNameservers('nameserver not-an-ip\n'), []);
});

t.test('upstream addresses', async (t) => {
  t.same(parseUpstream('192.0.2.1'), { address: '192.0.2.1', port: 53 });
  t.same(parseUpstream('192.0.2.1:5353'), { address: '192.0.2.1', port: 5353 });
  t.same(parseUpstream('2001:db8::1'), { address: '2001:db8::1', port: 53 });
  t.same(parseUpstream('[2001:db8::1]:5353'), { address: '2001:db8::1', port: 5353 });
  t.equal(parseUpstream('dns.example'), undefined);
  t.equal(parseUpstream('192.0.2.1:0'), undefined);
});

t.test("a sandbox's upstreams", async (t) => {
  t.same(
    sandboxUpstreams({ dns: [], hostResolvConf: hostConf, internal: false }).map((u) => u.address),
    ['192.0.2.53', 'fe80::1', '198.51.100.53'],
    "the host's, loopback left out, at most three",
  );
  t.equal(MAX_UPSTREAMS, 3);
  t.same(
    sandboxUpstreams({ dns: ['192.0.2.1'], hostResolvConf: hostConf, internal: false }),
    [{ address: '192.0.2.1', port: 53 }],
    "--dns wins over the host's",
  );
  t.same(sandboxUpstreams({ dns: ['192.0.2.1'], hostResolvConf: hostConf, internal: true }), [], 'internal: none at all');
  t.same(
    sandboxUpstreams({ dns: [], hostResolvConf: 'nameserver 127.0.0.53\n', internal: false }),
    [],
    'only a loopback resolver on the host: none',
  );
});
