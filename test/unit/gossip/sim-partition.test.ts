// A partition heals and the tables converge with no stale entries. A formed 1,000-node
// cluster, every node on one network; 60 nodes are cut off for 20 s (long enough for the
// mainland to declare the island dead and, with a 5 s grace period, hide its entries; the
// island, failing most of its probes, grows cautious and declares the mainland dead slowly). During the partition both sides
// create, update and delete entries. After the heal every node must show exactly the
// owners' current entries: nothing deleted survives, nothing hidden stays hidden.
import t from 'tap';
import { defaultLanConfig, validateGossipConfig } from '../../../src/gossip/config.ts';
import { Simulation } from '../../../src/gossip/simulation.ts';
import { bytes, seedFor, text } from '../../support/gossip-sim.ts';

const N = 1000;
const ISLAND = 60;

t.test('a partition heals and the tables converge with no stale entries', async (t) => {
  const sim = await Simulation.create({
    nodes: N,
    seed: seedFor(t, 3003),
    config: validateGossipConfig({ ownerGraceMs: 5_000 }, defaultLanConfig()),
    formed: { networks: [{ id: 'net', members: 'all' }] },
  });
  const island = Array.from({ length: ISLAND }, (_, i) => i * Math.floor(N / ISLAND));
  const inIsland = new Set(island);
  const mainland = sim.nodes.map((n) => n.index).filter((i) => !inIsland.has(i));
  const writers = sim.nodes.filter((n) => n.index % 10 === 0 || inIsland.has(n.index));
  for (const w of writers) w.node.tables.set('net', 'ep', 'a', bytes(`${w.name}:1`));
  sim.run(6_000);
  t.ok(
    sim.nodes.every((n) => n.node.tables.list('net', 'ep').length === writers.length),
    'before: everyone holds every entry',
  );

  sim.partition([island, mainland]);
  sim.run(8_000);
  const ex = sim.nodes[island[1]!]!;
  const main0 = sim.nodes[mainland[0]!]!;
  t.ok(
    island.every((i) => main0.node.member(sim.nodes[i]!.name)?.state === 'dead'),
    'the mainland declared the island dead',
  );
  t.ok(ex.node.healthScore() > 0, 'the island nodes, failing most probes, raised their Lifeguard health score (and accuse slowly)');
  // Changes on both sides while cut off.
  for (const w of writers) {
    if (w.index % 20 === 0) w.node.tables.delete('net', 'ep', 'a');
    else if (w.index % 20 === 10) w.node.tables.set('net', 'ep', 'a', bytes(`${w.name}:2`));
    if (w.index % 30 === 0) w.node.tables.set('net', 'ep', 'b', bytes(`${w.name}:new`));
  }
  sim.run(12_000);
  t.ok(
    sim.nodes[mainland[0]!]!.node.tables.list('net', 'ep').every((e) => !inIsland.has(sim.nodes.findIndex((n) => n.name === e.owner))),
    "past the grace period, the island's entries are hidden on the mainland",
  );

  sim.heal();
  // The truth: what each owner itself holds.
  const truth = new Map<string, string>();
  for (const w of sim.nodes) {
    for (const k of ['a', 'b']) {
      const e = w.node.tables.get('net', 'ep', k);
      if (e) truth.set(`${w.name}/${k}`, text(e.value));
    }
  }
  const consistent = (n: (typeof sim.nodes)[number]): boolean => {
    const list = n.node.tables.list('net', 'ep');
    if (list.length !== truth.size) return false;
    return list.every((e) => truth.get(`${e.owner}/${e.key}`) === text(e.value));
  };
  const took = sim.runUntil(() => sim.nodes.every((n) => n.node.liveCount() === N) && sim.nodes.every(consistent), 120_000, 500);
  t.ok(took !== undefined, `after the heal every node sees all ${N} members and exactly the ${truth.size} current entries (${took} ms)`);
  if (took === undefined) {
    const bad = sim.nodes.filter((n) => !consistent(n));
    t.comment(
      `${bad.length} nodes inconsistent; e.g. ${bad[0]?.name}: ${bad[0]?.node.tables.list('net', 'ep').length} entries vs ${truth.size}`,
    );
  }
});
