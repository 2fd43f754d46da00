// 1,000 nodes join through three seeds in virtual time and form one membership; then a
// killed node is declared dead by every other node. Object mode (no encoding cost); the
// sealed path runs in sim-sealed.test.ts.
import t from 'tap';
import { Simulation } from '../../../src/gossip/simulation.ts';
import { notFormed, seedFor } from '../../support/gossip-sim.ts';

const N = 1000;

t.test('1,000 nodes form one membership and declare a killed node dead', async (t) => {
  const sim = await Simulation.create({ nodes: N, seed: seedFor(t, 1001) });
  sim.joinAll(5); // one join every 5 ms: the whole cluster within 5 s
  const formed = sim.runUntil(() => notFormed(sim, N).length === 0, 120_000, 500);
  t.ok(formed !== undefined, `every node sees ${N} live members (took ${formed} ms of virtual time)`);
  if (formed === undefined) {
    const bad = notFormed(sim, N);
    t.comment(`${bad.length} nodes short, e.g. ${bad[0]?.name} sees ${bad[0]?.node.liveCount()}`);
    return;
  }
  for (const n of sim.nodes) {
    if (n.node.members().some((m) => m.state !== 'alive')) {
      t.fail(`${n.name} holds a member that is not alive`);
      break;
    }
  }

  const victim = sim.nodes[777]!;
  await sim.kill(victim.index);
  const killedAt = sim.clock.now();
  const detected = sim.runUntil(() => sim.running().every((n) => n.node.member(victim.name)?.state === 'dead'), 60_000, 100);
  t.ok(detected !== undefined, `all ${N - 1} others declare ${victim.name} dead (${detected} ms after the kill)`);
  const wrong = sim.running().filter((n) => n.node.members().some((m) => m.name !== victim.name && m.state === 'dead'));
  t.equal(wrong.length, 0, 'no other member is declared dead');
  t.ok(sim.clock.now() - killedAt < 60_000);
});
