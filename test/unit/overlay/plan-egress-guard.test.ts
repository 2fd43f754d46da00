/**
 * The egress table's control-plane guard (plan-egress.ts): what enters from the gateway
 * bridge may not reach the manager's, gossip's or VXLAN's ports, on this host (input) or
 * any other (forward); the rules are in the form nft prints back (sorted ports, one port
 * without braces), and the agent's model always guards the defaults.
 */
import t from 'tap';
import { buildOverlayModel } from '../../../src/agent/dataplane-model.ts';
import { planEgressTable } from '../../../src/overlay/plan-egress.ts';

const BR = 'shoal-h2-gw0';

t.test('guard rules in input and forward, sorted and deduplicated', async (t) => {
  const table = planEgressTable(
    'shoal-h2-egress',
    BR,
    '172.18.0.0/16',
    { vtep: '192.0.2.12', port: 4789 },
    { tcp: [7946, 2377, 7946], udp: [7946, 4789] },
  );
  const tcp = `iifname "${BR}" tcp dport { 2377, 7946 } drop`;
  const udp = `iifname "${BR}" udp dport { 4789, 7946 } drop`;
  const lines = table.canonical.split('\n');
  const chain = (name: string): string[] => {
    const i = lines.findIndex((l) => l.startsWith(`chain ip shoal-h2-egress ${name} `));
    if (i < 0) return [];
    const out: string[] = [];
    for (let j = i + 1; j < lines.length && lines[j]!.startsWith('  rule '); j++) out.push(lines[j]!.slice(7));
    return out;
  };
  t.match(lines.find((l) => l.includes(' input '))!, /type filter hook input prio 0 policy accept/);
  t.same(chain('input'), [tcp, udp], 'this host: input');
  t.same(chain('forward'), [`iifname "${BR}" oifname "${BR}" drop`, tcp, udp], 'other hosts: forward, after the port-to-port drop');
  t.match(table.script, /add chain ip shoal-h2-egress input \{ type filter hook input priority 0; policy accept; \}/);
  t.ok(table.script.includes(`add rule ip shoal-h2-egress input ${tcp}`));
});

t.test('one port has no braces; no guard, no input chain', async (t) => {
  const one = planEgressTable('e', BR, '172.18.0.0/16', undefined, { tcp: [2377], udp: [] });
  t.ok(one.canonical.includes(`rule iifname "${BR}" tcp dport 2377 drop`));
  t.notMatch(one.canonical, /udp dport/);
  const none = planEgressTable('e', BR, '172.18.0.0/16');
  t.notMatch(none.canonical, / input /);
  t.notMatch(none.canonical, /dport/);
});

t.test("the agent's model guards the defaults and its own ports", async (t) => {
  const base = {
    prefix: 'shoal-h2-',
    vtep: '192.0.2.12',
    underlayMtu: 1500,
    networks: new Map(),
    sandboxes: [],
    egress: new Map(),
    remotes: new Map(),
  };
  t.same(buildOverlayModel(base).controlPorts, { tcp: [2377, 7946], udp: [4789, 7946] });
  t.same(buildOverlayModel({ ...base, controlPorts: { tcp: [7000, 4000], udp: [7000] } }).controlPorts, {
    tcp: [2377, 4000, 7000, 7946],
    udp: [4789, 7000, 7946],
  });
});
