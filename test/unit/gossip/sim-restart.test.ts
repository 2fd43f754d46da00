// A mass restart converges (memberlist#311 / #345: restarted nodes stuck dead in others'
// views). A formed 1,000-node cluster with one network; 300 nodes are killed at once and
// come back under the same names and addresses with empty state, each after a random
// 0-8 s (some were declared dead meanwhile, some not). Half of the restarted writers write
// their entry again with a new value; the other half do not, so their previous life's entry
// must disappear everywhere. Afterwards every node sees every member alive and exactly the
// entries their owners hold now.
import t from 'tap';
import { Simulation } from '../../../src/gossip/simulation.ts';
import { bytes, seedFor, text } from '../../support/gossip-sim.ts';

const N = 1000;
const RESTART = 300;

t.test('a mass restart converges', async (t) => {
  const sim = await Simulation.create({ nodes: N, seed: seedFor(t, 5005), formed: { networks: [{ id: 'net', members: 'all' }] } });
  const writers = sim.nodes.filter((n) => n.index % 10 === 3);
  for (const w of writers) w.node.tables.set('net', 'ep', 'self', bytes(`${w.name}:life1`));
  sim.run(8_000);
  t.ok(
    sim.nodes.every((n) => n.node.tables.list('net', 'ep').length === writers.length),
    'before: every entry everywhere',
  );

  const victims = sim.rng.sample(sim.nodes.slice(3), RESTART).map((n) => n.index); // the seeds stay up
  for (const i of victims) await sim.kill(i);
  const order = sim.rng.shuffle([...victims]);
  const comeBack = new Map(order.map((i) => [i, sim.rng.int(8_000)]));
  const start = sim.clock.now();
  for (const [i, at] of [...comeBack].sort((a, b) => a[1] - b[1])) {
    sim.clock.runUntil(start + at);
    await sim.restart(i);
    const s = sim.nodes[i]!;
    s.node.joinNetwork('net');
    if (i % 10 === 3 && i % 20 === 3) s.node.tables.set('net', 'ep', 'self', bytes(`${s.name}:life2`));
  }
  sim.clock.runUntil(start + 8_000);

  const truth = new Map<string, string>();
  const refresh = (): void => {
    truth.clear();
    for (const n of sim.nodes) {
      const e = n.node.tables.get('net', 'ep', 'self');
      if (e) truth.set(n.name, text(e.value));
    }
  };
  const consistent = (n: (typeof sim.nodes)[number]): boolean => {
    const list = n.node.tables.list('net', 'ep');
    return list.length === truth.size && list.every((e) => truth.get(e.owner) === text(e.value));
  };
  const took = sim.runUntil(
    () => {
      if (!sim.nodes.every((n) => n.node.liveCount() === N)) return false;
      refresh();
      return sim.nodes.every(consistent);
    },
    120_000,
    500,
  );
  t.ok(took !== undefined, `every node sees all ${N} alive and exactly the current entries (${took} ms after the last restart)`);
  const rewritten = victims.filter((i) => i % 20 === 3).length;
  const dropped = victims.filter((i) => i % 20 === 13).length;
  t.equal(truth.size, writers.length - dropped, `${dropped} entries of restarted nodes that did not write again are gone`);
  t.equal([...truth.values()].filter((v) => v.endsWith(':life2')).length, rewritten, `${rewritten} rewritten entries carry the new value`);
  if (took === undefined) {
    const bad = sim.nodes.filter((n) => n.node.liveCount() !== N);
    t.comment(
      `${bad.length} nodes without a full view, e.g. ${bad[0]?.name}: ${bad[0]?.node
        .members()
        .filter((m) => m.state !== 'alive')
        .map((m) => `${m.name}/${m.state}`)
        .slice(0, 5)}`,
    );
  }
});
