/**
 * Target gossip-datagram: the receive path of one datagram, as a node on a MemoryTransport
 * runs it: the envelope opened (keyring.ts), the plaintext decoded (wire-codec.ts through
 * transport-codec.ts), the messages handled by the state machines (memberlist.ts).
 *
 * An input is a mode byte and a payload:
 *   mode 0 (even): the payload is what arrives on the wire: plaintext or random bytes, or an
 *     envelope sealed with the fuzz key and then mutated (header, nonce, ciphertext, tag);
 *   mode 1 (odd): the payload is a plaintext, mutated before it is sealed with the fuzz key,
 *     so it authenticates and reaches the decoder and the state machines as an
 *     authenticated but broken or hostile peer would send it.
 *
 * Invariant: nothing escapes the receive path; each datagram is counted exactly once (as
 * received, unauthenticated or malformed); the node's last-resort guard catches nothing;
 * and it still answers a ping (every 1,000 inputs, with its timers run between).
 */
import type { Rng } from '../../../src/common/rng.ts';
import { ENVELOPE_KIND_PACKET } from '../../../src/gossip/envelope.ts';
import type { FuzzInstance, FuzzTarget } from '../harness.ts';
import { fail } from '../harness.ts';
import { concat, mutateBytes, mutatePb, randomBytes } from '../mutate.ts';
import { encodePacket } from '../../../src/gossip/wire-codec.ts';
import { fuzzKeyring, hostileMessages, PEER_ADDR, samplePackets, VICTIM, Victim } from './gossip-common.ts';

export const MODE_WIRE = 0;
export const MODE_SEAL = 1;
/** Inputs a victim node takes before it is replaced (bounds its member and table state). */
const VICTIM_LIFETIME = 50_000;

class DatagramInstance implements FuzzInstance {
  readonly checkEvery = 1000;
  private victim!: Victim;
  private received = 0;
  private unauthenticated = 0;
  private malformed = 0;
  private victims = 0;

  constructor(private readonly seed: number) {}

  async start(): Promise<this> {
    this.victim = await Victim.create(this.seed);
    this.victims++;
    return this;
  }

  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
    if (rng.int(50) === 0) return concat(Uint8Array.of(rng.int(2)), randomBytes(rng, rng.int(300)));
    if (rng.int(5) === 0) {
      // well-formed, hostile: straight to the state machines (or encoded and then mutated)
      const msgs = hostileMessages(rng);
      let plain: Uint8Array;
      try {
        plain = encodePacket(rng.int(4) === 0 ? VICTIM : 'node-1', msgs);
      } catch {
        plain = encodePacket('node-1', [{ kind: 'ack', seq: 1 }]);
      }
      return concat(Uint8Array.of(MODE_SEAL), rng.int(4) === 0 ? mutatePb(rng, plain, plaintexts(corpus)) : plain);
    }
    const base = corpus[rng.int(corpus.length)]!;
    const mode = base[0]! & 1;
    const payload = base.subarray(1);
    if (mode === MODE_SEAL) {
      // a plaintext: mutated and sealed (most), or sent unsealed and mutated
      if (rng.int(8) !== 0) return concat(Uint8Array.of(MODE_SEAL), mutatePb(rng, payload, plaintexts(corpus)));
      return concat(Uint8Array.of(MODE_WIRE), mutatePb(rng, payload, plaintexts(corpus)));
    }
    // an envelope: resealed now with a fresh nonce, or as stored, then mutated after sealing
    const plain = plaintexts(corpus);
    const env = rng.int(2) === 0 ? payload : this.victim.sealer.seal(ENVELOPE_KIND_PACKET, plain[rng.int(plain.length)]!);
    return concat(Uint8Array.of(MODE_WIRE), mutateBytes(rng, env, corpus));
  }

  run(input: Uint8Array): void {
    if (input.length === 0) return;
    this.victim.inputs++;
    const payload = input.subarray(1);
    const data = (input[0]! & 1) === MODE_SEAL ? this.victim.sealer.seal(ENVELOPE_KIND_PACKET, payload) : payload;
    const node = this.victim.node;
    const before = node.stats();
    const b = [before.datagramsReceived, before.codec.packetsUnauthenticated, before.codec.packetsMalformed];
    try {
      this.victim.transport.deliverPacket(PEER_ADDR, data);
    } catch (err) {
      fail(`the receive path threw: ${(err as Error)?.stack ?? String(err)}`);
    }
    const after = node.stats();
    const d = [after.datagramsReceived - b[0]!, after.codec.packetsUnauthenticated - b[1]!, after.codec.packetsMalformed - b[2]!];
    if (d[0]! + d[1]! + d[2]! !== 1) fail(`one datagram counted ${d.join('/')} times (received/unauthenticated/malformed)`);
    this.received += d[0]!;
    this.unauthenticated += d[1]!;
    this.malformed += d[2]!;
    if (after.internalErrors !== 0) fail(`the node's guard caught an exception (internalErrors ${after.internalErrors})`);
  }

  async check(): Promise<void> {
    this.victim.tick(100);
    this.victim.check();
    if (this.victim.inputs >= VICTIM_LIFETIME) {
      await this.victim.destroy();
      this.victim = await Victim.create(this.seed + this.victims);
      this.victims++;
    }
  }

  summary(): string {
    return `received ${this.received}, unauthenticated ${this.unauthenticated}, malformed ${this.malformed}, ${this.victims} victim nodes`;
  }

  async close(): Promise<void> {
    await this.victim.destroy();
  }
}

/** The plaintext payloads of the corpus (mode 1 entries). */
const plaintextCache = new WeakMap<readonly Uint8Array[], Uint8Array[]>();
function plaintexts(corpus: readonly Uint8Array[]): Uint8Array[] {
  let p = plaintextCache.get(corpus);
  if (!p) {
    p = corpus.filter((c) => (c[0]! & 1) === MODE_SEAL).map((c) => c.subarray(1));
    if (p.length === 0) p = corpus.map((c) => c.subarray(1));
    plaintextCache.set(corpus, p);
  }
  return p;
}

export const gossipDatagram: FuzzTarget = {
  name: 'gossip-datagram',
  description: 'gossip datagrams through a node on a memory transport: envelope, decoder, state machines',
  seeds: () => {
    const sealer = fuzzKeyring();
    return samplePackets().flatMap((p) => [
      concat(Uint8Array.of(MODE_SEAL), p),
      concat(Uint8Array.of(MODE_WIRE), sealer.seal(ENVELOPE_KIND_PACKET, p)),
    ]);
  },
  open: (seed) => new DatagramInstance(seed).start(),
};
