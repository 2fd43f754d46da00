// Real sockets: 20 nodes on loopback UDP and TCP (NetTransport, sealed wire format, the local
// profile, the system clock). They form a cluster, replicate a table, detect a killed member,
// rotate their key mid-run without losing a message, and refuse a node with the wrong key.
// One node adopts sockets opened beforehand, as the agent does inside a network namespace.
// In the kernel tier, not the unit tier: real sockets and the wall clock make it depend on
// how loaded the machine is (the unit tier runs gossip in virtual time, sim-*.test.ts).
// Its deadlines are generous; every wait ends as soon as its condition holds.
import dgram from 'node:dgram';
import net from 'node:net';
import t from 'tap';
import { defaultLocalConfig } from '../../../src/gossip/config.ts';
import { createKeyring, generateGossipKey, type Keyring } from '../../../src/gossip/keyring.ts';
import { createGossipNode, type GossipNode } from '../../../src/gossip/memberlist.ts';
import { NetTransport } from '../../../src/gossip/net-transport.ts';
import { bytes, text } from '../../support/gossip-sim.ts';
import { requireKernel } from '../../support/kernel.ts';

const N = 20;
const config = defaultLocalConfig();

/** Polls `done` every 20 ms until it holds; false after `timeoutMs`. */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return done();
}

async function openSockets(): Promise<{ udp: dgram.Socket; tcp: net.Server }> {
  const tcp = net.createServer();
  await new Promise<void>((resolve) => tcp.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind({ address: '127.0.0.1', port }, resolve));
  return { udp, tcp };
}

interface Member {
  node: GossipNode;
  keyring: Keyring;
}

async function startNode(name: string, key: Uint8Array, adopt = false): Promise<Member> {
  const keyring = createKeyring([key]);
  const transport = adopt
    ? new NetTransport({ sockets: await openSockets() })
    : new NetTransport({ bind: { host: '127.0.0.1', port: 0 }, maxFrameBytes: config.maxFrameBytes });
  const node = createGossipNode({ name, config, transport, keyring });
  await node.start();
  return { node, keyring };
}

if (requireKernel(t)) {
  t.test('20 nodes on loopback sockets', async (t) => {
    const key = generateGossipKey();
    const members: Member[] = [];
    t.teardown(async () => {
      for (const m of members) await m.node.destroy();
    });
    for (let i = 0; i < N; i++) members.push(await startNode(`real-${i}`, key, i === 7));
    const seed = members[0]!.node.address;
    t.match(seed, /^127\.0\.0\.1:\d+$/);
    await Promise.all(members.slice(1).map((m) => m.node.join([seed])));
    t.ok(await waitFor(() => members.every((m) => m.node.liveCount() === N), 60_000), 'they form one cluster');

    for (const m of members) m.node.joinNetwork('net');
    members[3]!.node.tables.set('net', 'endpoints', 'ep', bytes('10.0.0.3'));
    t.ok(
      await waitFor(() => members.every((m) => m.node.tables.get('net', 'endpoints', 'ep', 'real-3') !== undefined), 30_000),
      'a table entry reaches every node',
    );
    const big = new Uint8Array(4000).fill(7); // larger than a datagram: travels over TCP
    members[4]!.node.tables.set('net', 'endpoints', 'big', big);
    t.ok(
      await waitFor(() => members.every((m) => m.node.tables.get('net', 'endpoints', 'big', 'real-4')?.value.length === 4000), 30_000),
      'a value too large for a datagram arrives too',
    );

    const victim = members.pop()!;
    await victim.node.destroy();
    const detected = await waitFor(() => members.every((m) => m.node.member(victim.node.name)?.state === 'dead'), 60_000);
    t.ok(detected, 'a killed member is declared dead by all');

    // Key rotation while writing: every write must arrive, no datagram may be refused.
    const next = generateGossipKey();
    const written: Array<{ key: string; owner: string }> = [];
    const write = (i: number): void => {
      const key = `rot-${written.length}`;
      const writer = members[i % members.length]!.node;
      writer.tables.set('net', 'endpoints', key, bytes(key));
      written.push({ key, owner: writer.name });
    };
    for (const m of members) m.keyring.install(next);
    write(0);
    for (let i = 0; i < members.length; i++) {
      members[i]!.keyring.use(next);
      write(i + 1);
      await new Promise((resolve) => setTimeout(resolve, 30)); // let traffic flow between switches
    }
    for (const m of members) m.keyring.remove(key);
    write(99);
    t.ok(
      await waitFor(
        () => members.every((m) => written.every((w) => m.node.tables.get('net', 'endpoints', w.key, w.owner) !== undefined)),
        30_000,
      ),
      `all ${written.length} writes made during the rotation arrived everywhere`,
    );
    const refused = members.reduce(
      (s, m) => s + m.node.stats().codec.packetsUnauthenticated + m.node.stats().codec.framesUnauthenticated,
      0,
    );
    t.equal(refused, 0, 'nothing failed authentication during the rotation');
    t.ok(members.every((m) => text(m.node.tables.get('net', 'endpoints', 'ep', 'real-3')!.value) === '10.0.0.3'));

    // A node with another key cannot join.
    const stranger = await startNode('stranger', generateGossipKey());
    members.push(stranger); // closed in teardown
    await t.rejects(
      stranger.node.join([members[0]!.node.address]),
      { code: 'SHOAL_ERR_GOSSIP_JOIN_FAILED' },
      'join with the wrong key fails',
    );
    t.equal(stranger.node.liveCount(), 1, 'it sees nobody');
    t.ok(
      members.slice(0, -1).every((m) => m.node.member('stranger') === undefined),
      'nobody sees it',
    );
    t.ok(members.slice(0, -1).reduce((s, m) => s + m.node.stats().codec.framesUnauthenticated, 0) > 0, 'its join was refused and counted');
  });
}
