// Fuzz: 1,000,000 random and mutated datagrams and stream frames. 800,000 go straight into
// the decoders; 200,000 go through a live node's receive path (half random or tampered
// envelopes that must fail authentication, half mutated plaintexts sealed with the cluster
// key, so they reach the decoders and the state machines as an authenticated but broken or
// hostile peer would send them). No exception may escape, and afterwards the node must still
// do its job: answer probes, stay a member, replicate tables both ways.
import t from 'tap';
import { FakeClock } from '../../../src/common/clock.ts';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import { defaultLocalConfig } from '../../../src/gossip/config.ts';
import { createKeyring, generateGossipKey } from '../../../src/gossip/keyring.ts';
import { createGossipNode, type GossipNode } from '../../../src/gossip/memberlist.ts';
import { MemoryNetwork, type MemoryTransport } from '../../../src/gossip/memory-transport.ts';
import { ENVELOPE_KIND_PACKET, ENVELOPE_KIND_STREAM } from '../../../src/gossip/envelope.ts';
import type { GossipMessage, StreamFrame } from '../../../src/gossip/messages.ts';
import { decodeFrame, decodePacket, encodeFrame, encodePacket } from '../../../src/gossip/wire-codec.ts';
import { bytes, seedFor } from '../../support/gossip-sim.ts';

const TOTAL = 1_000_000;
const THROUGH_NODE = 200_000;

function corpus(): { packets: Uint8Array[]; frames: Uint8Array[] } {
  const msgs: GossipMessage[] = [
    { kind: 'ping', seq: 1, target: 'node-1' },
    { kind: 'indirect-ping', seq: 2, target: 'node-2', targetAddr: '198.18.0.2:7946', wantNack: true },
    { kind: 'ack', seq: 3 },
    { kind: 'nack', seq: 4 },
    { kind: 'alive', node: 'node-1', addr: '198.18.0.1:7946', incarnation: 1_767_225_700, protocolMin: 1, protocolMax: 1 },
    { kind: 'suspect', node: 'node-2', incarnation: 1_767_225_700, from: 'node-1' },
    { kind: 'dead', node: 'node-2', incarnation: 1_767_225_700, from: 'node-2' },
    { kind: 'network', node: 'node-1', network: 'net', ltime: 1_767_225_600_123, joined: true },
    {
      kind: 'table',
      network: 'net',
      table: 'ep',
      key: 'k',
      owner: 'node-1',
      ltime: 1_767_225_600_124,
      deleted: false,
      value: bytes('10.0.0.1'),
      reapInMs: 0,
    },
    {
      kind: 'table',
      network: 'net',
      table: 'ep',
      key: 'k',
      owner: 'node-2',
      ltime: 5,
      deleted: true,
      value: new Uint8Array(0),
      reapInMs: 1000,
    },
  ];
  const packets = [...msgs.map((m) => encodePacket('node-1', [m])), encodePacket('node-2', msgs)];
  const frames: StreamFrame[] = [
    {
      from: 'node-1',
      body: {
        kind: 'push-pull',
        join: true,
        members: [
          { node: 'node-1', addr: '198.18.0.1:7946', incarnation: 9, status: 'alive' },
          { node: 'node-3', addr: '198.18.0.3:7946', incarnation: 9, status: 'dead' },
        ],
        attachments: [{ node: 'node-1', network: 'net', ltime: 3, joined: true }],
      },
    },
    {
      from: 'node-1',
      body: {
        kind: 'table-sync',
        network: 'net',
        owners: [{ owner: 'node-1', count: 2, hashLo: 1, hashHi: 2 }],
        attachments: { count: 1, hashLo: 3, hashHi: 4 },
      },
    },
    {
      from: 'node-1',
      body: {
        kind: 'table-fetch',
        network: 'net',
        want: [{ owner: 'node-0', table: 'ep', key: 'k' }],
        push: [msgs[8] as never],
        attachments: [{ node: 'node-1', network: 'net', ltime: 3, joined: true }],
      },
    },
    { from: 'node-1', body: { kind: 'deliver', messages: msgs } },
    {
      from: 'node-1',
      body: {
        kind: 'table-sync-reply',
        network: 'net',
        member: true,
        differingOwners: ['x'],
        versions: [{ owner: 'x', table: 'ep', key: 'k', ltime: 1, deleted: false }],
        attachments: [],
        wantAttachments: true,
      },
    },
  ];
  return { packets, frames: frames.map(encodeFrame) };
}

function randomBytes(rng: Rng, max: number): Uint8Array {
  const b = new Uint8Array(rng.int(max + 1));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  return b;
}

function mutate(rng: Rng, src: Uint8Array, pool: Uint8Array[]): Uint8Array {
  let b = Uint8Array.from(src);
  const ops = 1 + rng.int(3);
  for (let k = 0; k < ops; k++) {
    switch (rng.int(8)) {
      case 0: // flip a bit
        if (b.length) b[rng.int(b.length)]! ^= 1 << rng.int(8);
        break;
      case 1: // set a byte
        if (b.length) b[rng.int(b.length)] = rng.int(256);
        break;
      case 2: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 3: {
        // append garbage
        const tail = randomBytes(rng, 16);
        const n = new Uint8Array(b.length + tail.length);
        n.set(b);
        n.set(tail, b.length);
        b = n;
        break;
      }
      case 4: {
        // splice another corpus item in
        const other = pool[rng.int(pool.length)]!;
        const at = rng.int(b.length + 1);
        const n = new Uint8Array(at + other.length);
        n.set(b.subarray(0, at));
        n.set(other, at);
        b = n;
        break;
      }
      case 5: // a huge length prefix somewhere
        if (b.length > 2) {
          const at = rng.int(b.length - 1);
          b[at] = 0xff;
          b[at + 1] = 0xff;
        }
        break;
      case 6: // boundary values
        if (b.length) b[rng.int(b.length)] = [0, 0x7f, 0x80, 0xff][rng.int(4)]!;
        break;
      default: {
        // duplicate a slice
        if (b.length > 1) {
          const s = rng.int(b.length);
          const e = s + rng.int(b.length - s);
          const n = new Uint8Array(b.length + (e - s));
          n.set(b.subarray(0, e));
          n.set(b.subarray(s, e), e);
          n.set(b.subarray(e), e + (e - s));
          b = n;
        }
      }
    }
  }
  return b;
}

t.test(`${TOTAL.toLocaleString('en')} random and mutated datagrams and frames`, async (t) => {
  const rng = createRng(seedFor(t, 7007));
  const { packets, frames } = corpus();
  const pool = [...packets, ...frames];

  // The victim and two honest peers, on the full sealed path in virtual time.
  const clock = new FakeClock();
  const net = new MemoryNetwork({ clock, rng: rng.fork() });
  const key = generateGossipKey();
  const transports: MemoryTransport[] = [];
  const nodes: GossipNode[] = [];
  for (let i = 0; i < 3; i++) {
    const transport = net.createTransport(`198.18.0.${i}:7946`);
    transports.push(transport);
    const node = createGossipNode({
      name: `node-${i}`,
      config: defaultLocalConfig(),
      transport,
      keyring: createKeyring([key]),
      clock,
      rng: rng.fork(),
    });
    await node.start();
    nodes.push(node);
  }
  nodes[1]!.join([nodes[0]!.address]).catch(() => undefined);
  nodes[2]!.join([nodes[0]!.address]).catch(() => undefined);
  clock.advance(3000);
  t.ok(
    nodes.every((n) => n.liveCount() === 3),
    'three nodes formed',
  );
  for (const n of nodes) n.joinNetwork('net');
  clock.advance(1000);
  const victim = nodes[0]!;
  const attackerKeyring = createKeyring([key]);

  let escaped = 0;
  let decodedPackets = 0;
  let decodedFrames = 0;
  const started = performance.now();
  const direct = TOTAL - THROUGH_NODE;
  for (let i = 0; i < direct; i++) {
    const isFrame = (i & 1) === 1;
    const input =
      rng.int(3) === 0
        ? randomBytes(rng, 200)
        : mutate(rng, isFrame ? frames[rng.int(frames.length)]! : packets[rng.int(packets.length)]!, pool);
    try {
      if (isFrame) {
        if (decodeFrame(input)) decodedFrames++;
      } else if (decodePacket(input)) decodedPackets++;
    } catch {
      escaped++;
    }
  }
  t.equal(escaped, 0, `no exception escaped ${direct.toLocaleString('en')} direct decodes`);
  t.comment(`direct: ${decodedPackets} packets and ${decodedFrames} frames still decoded after mutation`);

  const target = transports[0]!;
  let replies = 0;
  for (let i = 0; i < THROUGH_NODE; i++) {
    const isFrame = i % 4 === 3;
    const kind = isFrame ? ENVELOPE_KIND_STREAM : ENVELOPE_KIND_PACKET;
    let data: Uint8Array;
    if (i % 2 === 0) {
      // an authenticated but broken or hostile peer
      data = attackerKeyring.seal(kind, mutate(rng, isFrame ? frames[rng.int(frames.length)]! : packets[rng.int(packets.length)]!, pool));
    } else {
      // noise and tampering: must fail authentication
      data = rng.int(2) === 0 ? randomBytes(rng, 300) : mutate(rng, attackerKeyring.seal(kind, packets[rng.int(packets.length)]!), pool);
    }
    try {
      if (isFrame) target.deliverRequest('198.51.100.7:7946', data, (reply) => void (reply && replies++));
      else target.deliverPacket('198.51.100.7:7946', data);
    } catch {
      escaped++;
    }
    if (i % 5000 === 4999) clock.advance(50); // let the node run its timers between bursts
  }
  t.equal(escaped, 0, `no exception escaped ${THROUGH_NODE.toLocaleString('en')} inputs through the node`);
  t.equal(victim.stats().internalErrors, 0, 'and none was thrown inside it either (the last-resort guard caught nothing)');
  const st = victim.stats();
  t.ok(
    st.codec.packetsUnauthenticated + st.codec.framesUnauthenticated > THROUGH_NODE / 3,
    `unauthenticated input counted (${st.codec.packetsUnauthenticated} datagrams, ${st.codec.framesUnauthenticated} frames)`,
  );
  t.ok(
    st.codec.packetsMalformed + st.codec.framesMalformed > 0,
    `malformed authenticated input counted (${st.codec.packetsMalformed} datagrams, ${st.codec.framesMalformed} frames)`,
  );
  t.comment(
    `through the node: ${replies} frames answered; ${victim.members().length} members known (junk included); ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  // The node still does its job. Authenticated junk made up members (alive until probed),
  // accusations of real members (refuted) and network attachments, so for a while gossip
  // fanout is partly wasted on phantoms; probing, refutation and anti-entropy clear it up.
  t.equal(victim.status, 'running');
  nodes[1]!.tables.set('net', 'ep', 'after-fuzz', bytes('1'));
  victim.tables.set('net', 'ep', 'from-victim', bytes('2'));
  const healthy = (): boolean =>
    ['node-1', 'node-2'].every((n) => victim.member(n)?.state === 'alive') &&
    nodes.slice(1).every((n) => n.member('node-0')?.state === 'alive') &&
    victim.tables.get('net', 'ep', 'after-fuzz', 'node-1') !== undefined &&
    nodes[2]!.tables.get('net', 'ep', 'from-victim', 'node-0') !== undefined;
  let waited = 0;
  while (waited < 120_000 && !healthy()) {
    clock.advance(500);
    waited += 500;
  }
  t.ok(
    ['node-1', 'node-2'].every((n) => victim.member(n)?.state === 'alive'),
    'the honest peers are alive in its view',
  );
  t.ok(
    nodes.slice(1).every((n) => n.member('node-0')?.state === 'alive'),
    'and it is alive in theirs',
  );
  t.ok(victim.tables.get('net', 'ep', 'after-fuzz', 'node-1'), 'it receives table entries');
  t.ok(nodes[2]!.tables.get('net', 'ep', 'from-victim', 'node-0'), `and its entries reach the others (all within ${waited} ms)`);
  for (const n of nodes) await n.destroy();
});
