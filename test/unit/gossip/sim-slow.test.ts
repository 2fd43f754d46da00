// Lifeguard: 1% of a formed 1,000-node cluster runs slow (every timer and everything sent
// to them is handled 2 s late, as when a node's event loop stalls). The slow nodes may be
// suspected, and may themselves suspect others, but no healthy node may be declared dead.
import t from 'tap';
import { Simulation } from '../../../src/gossip/simulation.ts';
import { seedFor } from '../../support/gossip-sim.ts';

const N = 1000;

t.test('slow nodes do not get healthy nodes declared dead', async (t) => {
  const sim = await Simulation.create({ nodes: N, seed: seedFor(t, 4004), formed: { networks: [] } });
  const slow = new Set<string>();
  for (let k = 0; k < N / 100; k++) {
    const i = 37 + k * 97;
    sim.slow(i, 2_000);
    slow.add(sim.nodes[i]!.name);
  }
  const falseDeaths = new Map<string, string>();
  let suspicionsOfHealthy = 0;
  for (const n of sim.nodes) {
    n.node.onMemberEvent((ev) => {
      if (slow.has(ev.member.name)) return;
      if (ev.kind === 'failed') falseDeaths.set(ev.member.name, n.name);
      if (ev.kind === 'suspected') suspicionsOfHealthy++;
    });
  }
  sim.run(60_000);
  t.equal(falseDeaths.size, 0, `no healthy node declared dead (${[...falseDeaths].slice(0, 3).join(', ')})`);
  t.comment(`suspicions of healthy nodes raised and refuted: ${suspicionsOfHealthy}`);
  const healthy = sim.nodes.filter((n) => !slow.has(n.name));
  t.ok(
    healthy.every((n) => n.node.members().every((m) => m.state !== 'dead' || slow.has(m.name))),
    'every healthy node still sees every healthy member alive',
  );
  const slowScores = sim.nodes.filter((n) => slow.has(n.name)).map((n) => n.node.healthScore());
  t.comment(`Lifeguard health scores of the slow nodes: ${slowScores.join(' ')}`);
});
