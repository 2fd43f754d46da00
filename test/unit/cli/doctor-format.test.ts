/**
 * `shoal doctor`'s output (src/cli/format/doctor.ts) from results per node: one line when
 * every node is checked and clean; otherwise each node that differs or was not checked,
 * its differences grouped by kind, and a count; a repair's repaired / not repaired / still
 * different; the JSON document's stable shape; the exit status.
 */
import t from 'tap';
import type { DoctorDifference, DoctorReport, NodeDoctor } from '../../../src/api/api-types.ts';
import { doctorExitStatus, doctorJson, formatDoctor } from '../../../src/cli/format/doctor.ts';

const d = (kind: string, change: string, text: string, netns = 'p-ov-1'): DoctorDifference => ({ kind, change, netns, text });
const report = (differences: DoctorDifference[], extra: Partial<DoctorReport> = {}): DoctorReport => ({
  clean: differences.length === 0 && (extra.failures ?? []).length === 0,
  differences,
  repair: false,
  repaired: [],
  failures: [],
  ...extra,
});
const node = (name: string, id: string, r: DoctorReport | undefined, errorCode = '', errorMessage = ''): NodeDoctor => ({
  nodeId: id,
  nodeName: name,
  ...(r ? { report: r } : {}),
  errorCode,
  errorMessage,
});

const neigh = d('neigh', 'add', 'neigh p-ov-1 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent');
const fdb = d('fdb', 'add', 'fdb p-ov-1 02:42:0a:00:01:03 dev vx4097 dst 192.0.2.13 self permanent');
const extra = d('nft', 'delete', 'nft p-sb-1 ip p-lb: element vips: 10.0.1.9', 'p-sb-1');
const mtu = d('link', 'change', 'link p-ov-1 br0 bridge mtu 1450 up (was: link br0 bridge mtu 1500 up)');

t.test('clean: one line, exit 0', async (t) => {
  const nodes = [node('h1', 'aaaaaaaaaaaaaaaa', report([])), node('h2', 'bbbbbbbbbbbbbbbb', report([]))];
  t.equal(formatDoctor(nodes, false), 'clean: no differences on 2 nodes\n');
  t.equal(doctorExitStatus(nodes), 0);
  t.equal(formatDoctor([node('', 'cccc', report([]))], false), 'clean: no differences on 1 node\n');
});

t.test('differences grouped by node and kind, nodes not checked, then the count', async (t) => {
  const nodes = [
    node('h1', 'aaaaaaaaaaaaaaaa', report([])),
    node('h2', 'bbbbbbbbbbbbbbbbbbbb', report([extra, fdb, neigh, mtu])),
    node('h3', 'cccccccccccccccc', undefined, 'SHOAL_ERR_AGENT_UNAVAILABLE', 'the agent of node cccc is not connected to the manager'),
  ];
  t.equal(
    formatDoctor(nodes, false),
    [
      'h2 (bbbbbbbbbbbb)',
      '  link',
      '    ~ link p-ov-1 br0 bridge mtu 1450 up (was: link br0 bridge mtu 1500 up)',
      '  neigh',
      '    + neigh p-ov-1 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent',
      '  fdb',
      '    + fdb p-ov-1 02:42:0a:00:01:03 dev vx4097 dst 192.0.2.13 self permanent',
      '  nft',
      '    - nft p-sb-1 ip p-lb: element vips: 10.0.1.9',
      'h3 (cccccccccccc)',
      '  not checked: the agent of node cccc is not connected to the manager (SHOAL_ERR_AGENT_UNAVAILABLE)',
      '4 differences on 1 node; 1 node not checked',
      '',
    ].join('\n'),
    'h1 is clean and not listed; kinds in the fixed order',
  );
  t.equal(doctorExitStatus(nodes), 1);
  t.equal(doctorExitStatus([nodes[0]!, nodes[2]!]), 1, 'a node not checked is not clean');
});

t.test('a repair: repaired, not repaired, still different', async (t) => {
  const nodes = [
    node('h1', 'a1', report([], { repair: true, repaired: [neigh] })),
    node(
      'h2',
      'b2',
      report([extra], {
        repair: true,
        repaired: [fdb],
        failures: [{ where: 'sandbox t1', code: 'SHOAL_ERR_NFT', message: 'Operation not permitted' }],
      }),
    ),
  ];
  t.equal(
    formatDoctor(nodes, true),
    [
      'h1 (a1)',
      '  repaired',
      '    neigh',
      '      + neigh p-ov-1 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent',
      'h2 (b2)',
      '  repaired',
      '    fdb',
      '      + fdb p-ov-1 02:42:0a:00:01:03 dev vx4097 dst 192.0.2.13 self permanent',
      '  not repaired',
      '    sandbox t1: Operation not permitted (SHOAL_ERR_NFT)',
      '  still different',
      '    nft',
      '      - nft p-sb-1 ip p-lb: element vips: 10.0.1.9',
      '1 difference left on 1 node; 2 differences repaired; 1 change not applied',
      '',
    ].join('\n'),
  );
  t.equal(doctorExitStatus(nodes), 1);
  const fixed = [node('h1', 'a1', report([], { repair: true, repaired: [neigh, fdb] })), node('h2', 'b2', report([], { repair: true }))];
  t.equal(formatDoctor(fixed, true), 'clean: repaired 2 differences, no differences on 2 nodes\n');
  t.equal(doctorExitStatus(fixed), 0);
});

t.test('the JSON document: one stable shape', async (t) => {
  const nodes = [
    node('h2', 'b2', report([neigh])),
    node('h3', 'c3', undefined, 'SHOAL_ERR_AGENT_UNAVAILABLE', 'node h3 is down: its agent does not answer (heartbeat failure)'),
  ];
  t.same(doctorJson(nodes, false), {
    clean: false,
    differences: 1,
    notChecked: 1,
    repair: false,
    nodes: [
      {
        nodeId: 'b2',
        nodeName: 'h2',
        checked: true,
        clean: false,
        errorCode: '',
        errorMessage: '',
        differences: [neigh],
        repaired: [],
        notRepaired: [],
      },
      {
        nodeId: 'c3',
        nodeName: 'h3',
        checked: false,
        clean: false,
        errorCode: 'SHOAL_ERR_AGENT_UNAVAILABLE',
        errorMessage: 'node h3 is down: its agent does not answer (heartbeat failure)',
        differences: [],
        repaired: [],
        notRepaired: [],
      },
    ],
  });
  const withExtraFields = { ...neigh, note: 'not part of the shape' } as DoctorDifference;
  t.same(doctorJson([node('h2', 'b2', report([withExtraFields]))], false).nodes[0]?.differences, [neigh], 'only the documented fields');
});
