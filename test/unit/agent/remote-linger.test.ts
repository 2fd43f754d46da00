/**
 * RemoteLinger: a remote endpoint that leaves stays in the overlay for the linger, then
 * goes; one that comes back, or whose address a current endpoint takes, is the current
 * one; a network no longer programmed takes its lingering endpoints with it.
 */
import t from 'tap';
import type { RemoteEndpoint } from '../../../src/overlay/model.ts';
import { RemoteLinger } from '../../../src/agent/remote-linger.ts';

const ep = (ip: string, vtep = '192.0.2.12', networkId = 'n1'): RemoteEndpoint => ({ networkId, ip, mac: '02:42:0a:00:00:02', vtep });
const ips = (m: Map<string, RemoteEndpoint[]>, id = 'n1'): string[] => (m.get(id) ?? []).map((e) => `${e.ip}@${e.vtep}`).sort();

t.test('an endpoint that left lingers, then goes', async (t) => {
  const l = new RemoteLinger(3_000);
  t.same(ips(l.apply(new Map([['n1', [ep('10.0.0.2'), ep('10.0.0.3')]]]), 0).remotes), ['10.0.0.2@192.0.2.12', '10.0.0.3@192.0.2.12']);
  const a = l.apply(new Map([['n1', [ep('10.0.0.3')]]]), 1_000);
  t.same(ips(a.remotes), ['10.0.0.2@192.0.2.12', '10.0.0.3@192.0.2.12'], 'kept after it left');
  t.equal(a.nextExpiry, 4_000, 'until the linger ends');
  const b = l.apply(new Map([['n1', [ep('10.0.0.3')]]]), 3_999);
  t.same(ips(b.remotes), ['10.0.0.2@192.0.2.12', '10.0.0.3@192.0.2.12'], 'still within the linger');
  const c = l.apply(new Map([['n1', [ep('10.0.0.3')]]]), 4_000);
  t.same(ips(c.remotes), ['10.0.0.3@192.0.2.12'], 'gone once it ends');
  t.equal(c.nextExpiry, undefined);
});

t.test('a current endpoint wins over a lingering one; a network gone takes its lingering endpoints', async (t) => {
  const l = new RemoteLinger(3_000);
  l.apply(
    new Map([
      ['n1', [ep('10.0.0.2')]],
      ['n2', [ep('10.0.1.2', '192.0.2.12', 'n2')]],
    ]),
    0,
  );
  l.apply(
    new Map([
      ['n1', []],
      ['n2', []],
    ]),
    100,
  );
  const back = l.apply(
    new Map([
      ['n1', [ep('10.0.0.2', '192.0.2.13')]],
      ['n2', []],
    ]),
    200,
  );
  t.same(ips(back.remotes), ['10.0.0.2@192.0.2.13'], 'the address back on another node: the current entry only');
  t.same(ips(back.remotes, 'n2'), ['10.0.1.2@192.0.2.12'], "n2's endpoint lingers");
  const dropped = l.apply(new Map([['n1', [ep('10.0.0.2', '192.0.2.13')]]]), 300);
  t.same(ips(dropped.remotes, 'n2'), [], 'n2 no longer programmed here');
  t.equal(dropped.nextExpiry, undefined);
});
