/**
 * The agent's doctor report from its parts' findings (src/agent/doctor.ts): overlay changes
 * and nftables doctor lines become one difference each, in canonical text with the
 * namespace after the kind; the report orders kinds as the applier goes; a repair's report
 * keeps what is gone after it as repaired and lists what its sync did not apply.
 */
import t from 'tap';
import {
  doctorReport,
  nftDifferences,
  overlayDifferences,
  repairReport,
  resolverDifferences,
  syncFailures,
  workloadDifferences,
} from '../../../src/agent/doctor.ts';
import { ShoalError } from '../../../src/common/errors.ts';
import type { OverlayChange } from '../../../src/overlay/apply.ts';

const neighChange = {
  kind: 'add',
  type: 'neigh',
  netns: 'p-ov-1',
  key: 'k',
  text: 'neigh 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent',
} as unknown as OverlayChange;
const linkChange = {
  kind: 'change',
  type: 'link',
  netns: '',
  key: 'k2',
  text: 'link p-gw0 bridge mtu 1500 up',
  before: 'link p-gw0 bridge mtu 1500 down',
} as unknown as OverlayChange;
const nsDelete = { kind: 'delete', type: 'netns', netns: 'p-sb-abc', key: 'k3', text: 'netns p-sb-abc' } as unknown as OverlayChange;

t.test('overlay changes: kind, change, namespace, canonical text', async (t) => {
  t.same(overlayDifferences([neighChange, linkChange, nsDelete]), [
    { kind: 'neigh', change: 'add', netns: 'p-ov-1', text: 'neigh p-ov-1 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent' },
    { kind: 'link', change: 'change', netns: '', text: 'link host p-gw0 bridge mtu 1500 up (was: link p-gw0 bridge mtu 1500 down)' },
    { kind: 'netns', change: 'delete', netns: 'p-sb-abc', text: 'netns p-sb-abc' },
  ]);
});

t.test('nftables lines: + lacking, - extra, a missing table is an add', async (t) => {
  t.same(nftDifferences('p-sb-1', 'p-lb', ['+ element vips: 10.0.1.2', '- rule output: counter', 'table ip p-lb does not exist']), [
    { kind: 'nft', change: 'add', netns: 'p-sb-1', text: 'nft p-sb-1 ip p-lb: element vips: 10.0.1.2' },
    { kind: 'nft', change: 'delete', netns: 'p-sb-1', text: 'nft p-sb-1 ip p-lb: rule output: counter' },
    { kind: 'nft', change: 'add', netns: 'p-sb-1', text: 'nft p-sb-1 ip p-lb: table ip p-lb does not exist' },
  ]);
  t.same(nftDifferences('', 'p-mesh', ['+ element published: tcp . 8080'])[0]?.text, 'nft host ip p-mesh: element published: tcp . 8080');
});

t.test('the resolver and the workloads', async (t) => {
  t.same(
    resolverDifferences([
      { netns: 'p-sb-1', kind: 'unserved', text: 'the resolver has no sockets in this sandbox (127.0.0.11 does not answer)' },
      { netns: 'p-sb-2', kind: 'missing', text: 'p-dns' },
    ]),
    [
      {
        kind: 'dns',
        change: 'add',
        netns: 'p-sb-1',
        text: 'dns p-sb-1 the resolver has no sockets in this sandbox (127.0.0.11 does not answer)',
      },
      { kind: 'dns', change: 'add', netns: 'p-sb-2', text: 'dns p-sb-2 redirect table ip p-dns missing' },
    ],
  );
  t.same(
    workloadDifferences([
      { id: 't1', name: 'web.1.t1', kind: 'task', pid: 42, netns: 'p-sb-t1', alive: true },
      { id: 't2', name: 'web.2.t2', kind: 'task', pid: 43, netns: 'p-sb-t2', alive: false },
    ]),
    [{ kind: 'task', change: 'change', netns: 'p-sb-t2', text: 'task p-sb-t2 task web.2.t2 pid 43 gone (was: running)' }],
    'only the one whose process is gone',
  );
});

t.test('reports: kinds in apply order; a repair keeps what it removed', async (t) => {
  const [neigh] = overlayDifferences([neighChange]);
  const [ns] = overlayDifferences([nsDelete]);
  const [el] = nftDifferences('p-sb-1', 'p-lb', ['+ element vips: 10.0.1.2']);
  const r = doctorReport([el!, neigh!, ns!]);
  t.same(
    r.differences.map((x) => x.kind),
    ['netns', 'neigh', 'nft'],
  );
  t.equal(r.clean, false);
  t.same(doctorReport([]), { clean: true, differences: [], repair: false, repaired: [], failures: [] });
  const fixed = repairReport([el!, neigh!], [], []);
  t.same(fixed, { clean: true, differences: [], repair: true, repaired: [neigh, el], failures: [] });
  const partial = repairReport([el!, neigh!], [el!], [{ where: 'sandboxes', code: 'SHOAL_ERR_NFT', message: 'x' }]);
  t.equal(partial.clean, false);
  t.same(partial.repaired, [neigh]);
  t.same(partial.differences, [el]);
});

t.test("a failed sync's failures: its details, else the error", async (t) => {
  const overlay = new ShoalError('SHOAL_ERR_SYNC_FAILED', 'overlay sync: 1 change(s) not applied', {
    details: {
      failures: [{ kind: 'add', type: 'neigh', netns: 'p-ov-1', text: 'neigh 10.0.1.3', code: 'SHOAL_ERR_NETLINK', message: 'EPERM' }],
    },
  });
  t.same(syncFailures('overlay', overlay), [{ where: 'overlay', code: 'SHOAL_ERR_NETLINK', message: 'neigh 10.0.1.3: EPERM' }]);
  const lb = new ShoalError('SHOAL_ERR_SYNC_FAILED', 'lb', {
    details: { failures: [{ where: 'sandbox t1', code: 'SHOAL_ERR_NFT', message: 'busy' }] },
  });
  t.same(syncFailures('sandboxes', lb), [{ where: 'sandbox t1', code: 'SHOAL_ERR_NFT', message: 'busy' }]);
  const dns = new ShoalError('SHOAL_ERR_SYNC_FAILED', 'dns', {
    details: { failures: [{ sandbox: 't2', code: 'SHOAL_ERR_DNS', message: 'no' }] },
  });
  t.same(syncFailures('overlay', dns), [{ where: 'sandbox t2', code: 'SHOAL_ERR_DNS', message: 'no' }]);
  t.same(syncFailures('mesh', new ShoalError('SHOAL_ERR_NFT', 'nft failed')), [
    { where: 'mesh', code: 'SHOAL_ERR_NFT', message: 'nft failed' },
  ]);
});
