/**
 * Target gossip-stream: a stream as a node's TCP listener reads it. The bytes are fed in
 * random chunk splits to the frame reader (net-transport.ts readFrame: a 4-byte length,
 * then the sealed frame), then the end of the stream; a frame it returns is opened and
 * decoded and served by a victim node on a MemoryTransport, as NetTransport's serve() does.
 *
 * An input is a mode byte, four bytes that seed the chunk splits, and the stream:
 *   mode 0 (even): the stream bytes as they arrive (length prefixes and envelopes mutated
 *     after sealing, several frames in one stream, lengths beyond the data or over the cap);
 *   mode 1 (odd): a frame plaintext, mutated before it is sealed and framed.
 *
 * Invariant: nothing escapes the reader or the node; the reader calls back exactly once
 * (a frame, or a clean 'oversized'/'closed'), detaches from the stream when it does, and
 * never holds more than the cap plus one chunk without finishing; the node counts each frame
 * once (served, unauthenticated or malformed) and answers each
 * frame at most once, with nothing or a sealed frame that opens and decodes; its guard
 * catches nothing, and it still answers a ping.
 */
import { EventEmitter } from 'node:events';
import type { Rng } from '../../../src/common/rng.ts';
import { createRng } from '../../../src/common/rng.ts';
import { ENVELOPE_KIND_STREAM } from '../../../src/gossip/envelope.ts';
import { readFrame } from '../../../src/gossip/net-transport.ts';
import { decodeFrame, encodeFrame } from '../../../src/gossip/wire-codec.ts';
import type { FuzzInstance, FuzzTarget } from '../harness.ts';
import { fail } from '../harness.ts';
import { concat, INTERESTING_32, mutateBytes, mutatePb, randomBytes } from '../mutate.ts';
import { fuzzKeyring, PEER_ADDR, sampleFrames, Victim } from './gossip-common.ts';

const MODE_WIRE = 0;
const MODE_SEAL = 1;
/** The reader's cap in the fuzzer (the node's maxFrameBytes; 16 MiB by default, smaller here to reach it). */
export const FUZZ_MAX_FRAME = 64 * 1024;
const VICTIM_LIFETIME = 50_000;

function prefix(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** A length-prefixed stream of `frames`. */
export function framed(...frames: Uint8Array[]): Uint8Array {
  return concat(...frames.flatMap((f) => [prefix(f.length), f]));
}

class StreamInstance implements FuzzInstance {
  readonly checkEvery = 1000;
  private victim!: Victim;
  private victims = 0;
  private readonly sealer = fuzzKeyring();
  private readonly opener = fuzzKeyring();
  readonly counts = { frames: 0, oversized: 0, closed: 0, answered: 0, refused: 0 };

  constructor(private readonly seed: number) {}

  async start(): Promise<this> {
    this.victim = await Victim.create(this.seed);
    this.victims++;
    return this;
  }

  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
    const split = randomBytes(rng, 4);
    const base = corpus[rng.int(corpus.length)]!;
    const body = base.subarray(5);
    const plains = corpus.filter((c) => (c[0]! & 1) === MODE_SEAL).map((c) => c.subarray(5));
    if ((base[0]! & 1) === MODE_SEAL) return concat(Uint8Array.of(MODE_SEAL), split, mutatePb(rng, body, plains));
    let stream: Uint8Array;
    switch (rng.int(6)) {
      case 0: {
        // the length prefix made to lie: zero, short, beyond the data, over the cap
        const env = this.sealer.seal(ENVELOPE_KIND_STREAM, plains[rng.int(plains.length)] ?? body);
        const lies = [0, 1, env.length - 1, env.length + 1, env.length + 1000, FUZZ_MAX_FRAME, FUZZ_MAX_FRAME + 1, ...INTERESTING_32];
        stream = concat(prefix(lies[rng.int(lies.length)]!), env);
        break;
      }
      case 1: {
        // several frames in one stream (only the first is read)
        const a = this.sealer.seal(ENVELOPE_KIND_STREAM, plains[rng.int(plains.length)] ?? body);
        stream = concat(framed(a), body, framed(a));
        break;
      }
      case 2: // a frame near the cap
        stream = framed(concat(body.subarray(4), new Uint8Array(FUZZ_MAX_FRAME - rng.int(64) - body.length)));
        break;
      default:
        stream = mutateBytes(
          rng,
          body,
          corpus.map((c) => c.subarray(5)),
        );
    }
    return concat(Uint8Array.of(MODE_WIRE), split, stream);
  }

  run(input: Uint8Array): void {
    if (input.length < 5) return;
    this.victim.inputs++;
    const body = input.subarray(5);
    const stream = (input[0]! & 1) === MODE_SEAL ? framed(this.sealer.seal(ENVELOPE_KIND_STREAM, body)) : body;
    const rng = createRng(((input[1]! << 24) | (input[2]! << 16) | (input[3]! << 8) | input[4]!) >>> 0);
    const socket = new EventEmitter();
    let calls = 0;
    let result: { err: string | undefined; frame: Uint8Array | undefined } | undefined;
    try {
      readFrame(socket, FUZZ_MAX_FRAME, (err, frame) => {
        calls++;
        result = { err, frame };
      });
      let fed = 0;
      const small = stream.length <= 4096 && rng.int(3) === 0;
      while (fed < stream.length && result === undefined) {
        const n = stream.length - fed <= 1 ? 1 : small ? 1 + rng.int(8) : 1 + rng.int(stream.length - fed);
        socket.emit('data', Buffer.from(stream.subarray(fed, fed + n)));
        fed += n;
        // bounded: a reader that has taken cap + prefix bytes must have finished
        if (result === undefined && fed >= 4 + FUZZ_MAX_FRAME + n)
          fail(`the reader holds ${fed} bytes without finishing (cap ${FUZZ_MAX_FRAME})`);
      }
      if (result !== undefined && socket.listenerCount('data') !== 0) fail('the reader still listens after it called back');
      // the rest of the stream, and its end: no second callback
      if (fed < stream.length) socket.emit('data', Buffer.from(stream.subarray(fed)));
      socket.emit('end');
      socket.emit('close');
    } catch (err) {
      fail(`the frame reader threw: ${(err as Error)?.stack ?? String(err)}`);
    }
    if (calls !== 1) fail(`the reader called back ${calls} times`);
    const { err, frame } = result!;
    if (frame === undefined) {
      if (err === 'oversized') this.counts.oversized++;
      else if (err === 'closed') this.counts.closed++;
      else fail(`the reader failed with ${String(err)}, not a stream error`);
      return;
    }
    if (frame.length === 0 || frame.length > FUZZ_MAX_FRAME) fail(`the reader returned a frame of ${frame.length} bytes`);
    this.counts.frames++;
    let replies = 0;
    const before = this.victim.node.stats();
    const b = [before.framesServed, before.codec.framesUnauthenticated, before.codec.framesMalformed];
    try {
      this.victim.transport.deliverRequest(PEER_ADDR, frame, (reply) => {
        replies++;
        if (reply === undefined) {
          this.counts.refused++;
          return;
        }
        this.counts.answered++;
        const plain = this.opener.open(ENVELOPE_KIND_STREAM, reply);
        if (!plain) fail('the node answered with a frame that does not open');
        if (!decodeFrame(plain)) fail('the node answered with a frame that does not decode');
      });
    } catch (e) {
      fail(`the node's stream handler threw: ${(e as Error)?.stack ?? String(e)}`);
    }
    if (replies > 1) fail(`the node answered one request ${replies} times`);
    const st = this.victim.node.stats();
    const d = [st.framesServed - b[0]!, st.codec.framesUnauthenticated - b[1]!, st.codec.framesMalformed - b[2]!];
    if (d[0]! + d[1]! + d[2]! !== 1) fail(`one frame counted ${d.join('/')} times (served/unauthenticated/malformed)`);
    if (st.internalErrors !== 0) fail(`the node's guard caught an exception (internalErrors ${st.internalErrors})`);
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
    const c = this.counts;
    return `frames ${c.frames} (answered ${c.answered}, closed without reply ${c.refused}), oversized ${c.oversized}, cut short ${c.closed}`;
  }

  async close(): Promise<void> {
    await this.victim.destroy();
  }
}

export const gossipStream: FuzzTarget = {
  name: 'gossip-stream',
  description: 'gossip stream frames in random chunk splits: frame reader, envelope, decoder, node',
  seeds: () => {
    const sealer = fuzzKeyring();
    const split = Uint8Array.of(0, 0, 0, 7);
    return sampleFrames().flatMap((f) => {
      const plain = encodeFrame(f);
      return [
        concat(Uint8Array.of(MODE_SEAL), split, plain),
        concat(Uint8Array.of(MODE_WIRE), split, framed(sealer.seal(ENVELOPE_KIND_STREAM, plain))),
      ];
    });
  },
  open: (seed) => new StreamInstance(seed).start(),
};
