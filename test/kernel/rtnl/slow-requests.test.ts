/**
 * Link deletes leave the event loop free (src/kernel/rtnl.ts deleteLink, native
 * netlinkAck): the request is handed to a pool thread as deleteLink is called, so it is
 * carried out even while JavaScript is kept busy, which a request sent from the main
 * thread cannot be. A handle closed with a delete in flight still settles it, and the
 * request bytes are what the kernel expects.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { delLinkRequest, openRtnl } from '../../../src/kernel/rtnl.ts';
import { ipJson, requireKernel, throwawayNamespaces } from '../../support/kernel.ts';

const linkNames = (ns: string): string[] => ipJson<Array<{ ifname: string }>>(ns, 'link', 'show').map((l) => l.ifname);

t.test('the RTM_DELLINK request: header, ifinfomsg, IFLA_IFNAME', async (t) => {
  const b = delLinkRequest('veth-a', 7);
  t.equal(b.readUInt32LE(0), b.length, 'nlmsg_len is the whole message');
  t.equal(b.readUInt16LE(4), 17, 'RTM_DELLINK');
  t.equal(b.readUInt16LE(6), 1 | 4, 'NLM_F_REQUEST | NLM_F_ACK');
  t.equal(b.readUInt32LE(8), 7, 'the sequence number');
  t.equal(b.readUInt16LE(32 + 2), 3, 'IFLA_IFNAME after the 16-byte ifinfomsg');
  t.equal(b.readUInt16LE(32), 4 + 'veth-a'.length + 1, 'the name with its terminator');
  t.equal(b.subarray(36, 42).toString(), 'veth-a');
  t.equal(b.length % 4, 0, 'padded to 4 bytes');
});

if (requireKernel(t)) {
  t.test('a delete goes on while JavaScript is busy', async (t) => {
    const ns = await throwawayNamespaces(t, 'slow', 'peer');
    const r = await openRtnl(ns.slow);
    t.teardown(() => r.close());
    await r.addLink({ name: 'veth-x', kind: 'veth', veth: { peerName: 'veth-y', peerNetns: ns.peer } });
    t.ok(linkNames(ns.slow).includes('veth-x'));

    const deleting = r.deleteLink('veth-x');
    // Block the event loop, polling with synchronous child processes: only a request that
    // left the main thread when deleteLink was called can finish meanwhile.
    const deadline = Date.now() + 10_000;
    let goneWhileBusy = false;
    while (Date.now() < deadline) {
      if (!linkNames(ns.slow).includes('veth-x')) {
        goneWhileBusy = true;
        break;
      }
      execFileSync('sleep', ['0.02']);
    }
    t.ok(goneWhileBusy, 'the link went away before the event loop turned again');
    t.equal(await deleting, true, 'and the delete reports it deleted');
    t.notOk(linkNames(ns.peer).includes('veth-y'), 'its peer went with it');
    t.equal(await r.deleteLink('veth-x'), false, 'a second delete: missing, not an error');
    await t.rejects(r.deleteLink('lo'), { code: 'SHOAL_ERR_NETLINK', errno: 'ENOTSUP' }, 'the kernel refuses to delete lo');
  });

  t.test('close with a delete in flight: the delete settles, later calls are refused', async (t) => {
    const ns = await throwawayNamespaces(t, 'slowc', 'peerc');
    const r = await openRtnl(ns.slowc);
    await r.addLink({ name: 'veth-c', kind: 'veth', veth: { peerName: 'veth-d', peerNetns: ns.peerc } });
    const deleting = r.deleteLink('veth-c');
    r.close();
    t.equal(await deleting, true);
    t.notOk(linkNames(ns.slowc).includes('veth-c'));
    await t.rejects(r.deleteLink('veth-c'), { code: 'SHOAL_ERR_CLOSED' });
  });
}
