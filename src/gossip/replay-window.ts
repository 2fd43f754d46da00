/**
 * Replay protection for gossip envelopes, a pure state machine: the caller passes the time.
 *
 * An envelope that authenticated (keyring.ts) is accepted once:
 *
 * - its send time (authenticated, envelope.ts) must lie within `maxAgeMs` of the receiver's
 *   clock, either way, and not before the receiver started (a restarted receiver has no
 *   memory of what it accepted before, so it takes only what was sent after it started);
 * - within that time, the nonce must not have been seen. The nonce is a per-sender random
 *   prefix and a counter, so the receiver keeps one sliding window of counters per prefix
 *   (RFC 4303's anti-replay window, as a ring of 32-bit words): the highest counter seen and
 *   a bit for each of the `counterWindow` counters below it. A counter further below than
 *   the window is refused as a replay: it cannot be told from one.
 *
 * Restarts do not break gossip: a restarted sender draws a new prefix, which is a new
 * window; a restarted receiver starts with no windows and the start-time rule above.
 *
 * Memory is bounded: a sender whose newest send time is older than `maxAgeMs` is forgotten
 * (anything more it could replay is refused by time), checked at most once per `maxAgeMs`
 * and whenever more than `maxSenders` are held; beyond that the earliest-created windows are
 * dropped. Only authenticated envelopes create windows, so the count is that of the
 * cluster's keyrings (nodes and their restarts) within `maxAgeMs`, not the attacker's.
 */

export interface ReplayWindowConfig {
  /**
   * How far an envelope's send time may be from the receiver's clock, either way, in ms.
   * Larger tolerates more clock skew between nodes; smaller keeps a captured envelope
   * replayable (to a receiver that restarted or forgot its sender) for less time.
   */
  readonly maxAgeMs: number;
  /**
   * Counters remembered below a sender's highest, a multiple of 32. Larger tolerates more
   * reordering between a sender's datagrams and stream frames (they share one counter);
   * costs counterWindow / 8 bytes per sender.
   */
  readonly counterWindow: number;
  /** Senders held at most (each costs about counterWindow / 8 + 64 bytes). */
  readonly maxSenders: number;
}

export function defaultReplayWindowConfig(): ReplayWindowConfig {
  return { maxAgeMs: 120_000, counterWindow: 4096, maxSenders: 4096 };
}

export type ReplayVerdict = 'fresh' | 'stale' | 'replayed';

export interface ReplayWindowStats {
  /** Senders (nonce prefixes) whose windows are held now. */
  senders: number;
  /** Windows dropped because more than maxSenders were held (a replay gap: should stay 0). */
  evicted: number;
}

interface SenderWindow {
  /** Highest counter accepted. */
  top: number;
  /** Bit (c % 32) of word ((c >>> 5) % words.length) is set once counter c was accepted. */
  readonly words: Uint32Array;
  /** Newest send time accepted, ms since the epoch. */
  newest: number;
}

export class ReplayWindow {
  private readonly senders = new Map<string, SenderWindow>();
  private readonly wordCount: number;
  private lastPrune: number;
  private evicted = 0;

  /** `startedAt`: the receiver's start, ms since the epoch (the same clock as `now` below). */
  constructor(
    readonly config: ReplayWindowConfig,
    private readonly startedAt: number,
  ) {
    this.wordCount = Math.max(2, Math.ceil(config.counterWindow / 32) + 1);
    this.lastPrune = startedAt;
  }

  stats(): ReplayWindowStats {
    return { senders: this.senders.size, evicted: this.evicted };
  }

  /**
   * Whether an authenticated envelope from `sender` (its nonce prefix) with `counter` and
   * `sentAt` is fresh; a fresh one is recorded, so the same one again is a replay.
   */
  check(sender: string, counter: number, sentAt: number, now: number): ReplayVerdict {
    const maxAge = this.config.maxAgeMs;
    if (!(sentAt >= now - maxAge && sentAt <= now + maxAge && sentAt >= this.startedAt)) return 'stale';
    if (now - this.lastPrune >= maxAge || this.senders.size >= this.config.maxSenders) this.prune(now);
    let w = this.senders.get(sender);
    if (!w) {
      w = { top: counter, words: new Uint32Array(this.wordCount), newest: sentAt };
      this.senders.set(sender, w);
      this.mark(w, counter);
      return 'fresh';
    }
    if (counter > w.top) {
      // advance: clear the words between the old top's and the new top's
      const from = Math.floor(w.top / 32);
      const to = Math.floor(counter / 32);
      const clear = Math.min(to - from, this.wordCount);
      for (let i = 1; i <= clear; i++) w.words[(from + i) % this.wordCount] = 0;
      w.top = counter;
    } else if (w.top - counter >= this.config.counterWindow) {
      return 'replayed'; // below the window: cannot be told from a replay
    } else if (this.seen(w, counter)) {
      return 'replayed';
    }
    this.mark(w, counter);
    if (sentAt > w.newest) w.newest = sentAt;
    return 'fresh';
  }

  private seen(w: SenderWindow, c: number): boolean {
    return (w.words[Math.floor(c / 32) % this.wordCount]! & (1 << (c % 32))) !== 0;
  }

  private mark(w: SenderWindow, c: number): void {
    const i = Math.floor(c / 32) % this.wordCount;
    w.words[i] = w.words[i]! | (1 << (c % 32));
  }

  private prune(now: number): void {
    this.lastPrune = now;
    const horizon = now - this.config.maxAgeMs;
    for (const [k, w] of this.senders) if (w.newest < horizon) this.senders.delete(k);
    for (const k of this.senders.keys()) {
      if (this.senders.size < this.config.maxSenders) break;
      this.senders.delete(k);
      this.evicted++;
    }
  }
}
