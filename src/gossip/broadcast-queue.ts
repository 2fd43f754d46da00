/**
 * Broadcast queue: messages waiting to be piggybacked on gossip, each sent a limited number
 * of times (the limit grows with log N and is passed in by the caller, since N changes).
 *
 * Order: fewest transmissions first, and among equals the most recently queued (or
 * retransmitted) first, so fresh news (local writes and relayed ones alike) always goes out
 * in the next packet and nothing is starved by a backlog of older messages. A new message with the same key replaces the
 * queued one (a newer alive/suspect/dead about the same node, a newer version of the same
 * table entry), which bounds the queue by the number of distinct subjects.
 *
 * Structure: one stack per transmit count. take() walks the stacks from count 0 upwards
 * and from each stack's top, so a packet is filled in O(messages examined).
 */

/** Below this many bytes of room no message fits (an ack is 4 framed); stop looking. */
const MIN_ROOM = 4;
/** Give up on a stack after this many messages in a row did not fit the room left. */
const MAX_MISSES = 16;

interface Item<M> {
  readonly key: string;
  readonly msg: M;
  readonly size: number;
  transmits: number;
  dead: boolean;
  readonly onDone: ((delivered: boolean) => void) | undefined;
}

export interface BroadcastQueueOptions<M> {
  /** Most messages kept; beyond it the most transmitted are dropped. */
  readonly maxLength: number;
  /** Bytes a message takes in a packet. */
  readonly sizeOf: (msg: M) => number;
}

export class BroadcastQueue<M> {
  private readonly buckets: Array<Array<Item<M>>> = [];
  private readonly byKey = new Map<string, Item<M>>();
  private readonly maxLength: number;
  private readonly sizeOf: (msg: M) => number;
  /** Messages dropped because the queue was full. */
  dropped = 0;
  /** Retired items still sitting in a bucket (removed lazily, compacted when many). */
  private garbage = 0;

  constructor(options: BroadcastQueueOptions<M>) {
    this.maxLength = options.maxLength;
    this.sizeOf = options.sizeOf;
  }

  get length(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /**
   * Queues `msg` under `key`, replacing a queued message with the same key. `onDone` runs
   * once when the message has been sent its full number of times (true) or was replaced,
   * dropped or cleared (false).
   */
  enqueue(key: string, msg: M, onDone?: (delivered: boolean) => void): void {
    const old = this.byKey.get(key);
    if (old) this.retire(old, false);
    const item: Item<M> = { key, msg, size: this.sizeOf(msg), transmits: 0, dead: false, onDone };
    this.byKey.set(key, item);
    (this.buckets[0] ??= []).push(item);
    if (this.byKey.size > this.maxLength) this.dropOne();
  }

  /**
   * Messages for one packet: as many as fit in `budget` bytes, fewest-sent and newest
   * first. Each taken message counts one transmission; at `limit` it leaves the queue.
   * When `allowLarge`, at most one message larger than the whole budget is also returned
   * (the caller sends it over a stream).
   */
  take(budget: number, limit: number, allowLarge = false): M[] {
    const out: M[] = [];
    const moved: Array<Item<M>> = [];
    let room = budget;
    let largeTaken = !allowLarge;
    for (let t = 0; t < this.buckets.length && room >= MIN_ROOM; t++) {
      const bucket = this.buckets[t];
      if (!bucket || bucket.length === 0) continue;
      // Walk from the top (newest); keep the untaken items of the walked suffix in order.
      const kept: Array<Item<M>> = [];
      let i = bucket.length - 1;
      let misses = 0;
      for (; i >= 0 && room >= MIN_ROOM && misses < MAX_MISSES; i--) {
        const item = bucket[i]!;
        if (item.dead) {
          this.garbage--; // dropped from the bucket here
          continue;
        }
        if (item.size > budget) {
          if (largeTaken) {
            kept.push(item);
            continue;
          }
          largeTaken = true;
        } else if (item.size > room) {
          kept.push(item);
          misses++;
          continue;
        } else {
          room -= item.size;
        }
        out.push(item.msg);
        moved.push(item);
      }
      bucket.length = i + 1;
      for (let k = kept.length - 1; k >= 0; k--) bucket.push(kept[k]!);
    }
    for (let i = moved.length - 1; i >= 0; i--) {
      const item = moved[i]!;
      item.transmits++;
      if (item.transmits >= limit) {
        this.byKey.delete(item.key);
        item.onDone?.(true);
      } else {
        (this.buckets[item.transmits] ??= []).push(item);
      }
    }
    return out;
  }

  /** Drops every message (each onDone gets false). */
  clear(): void {
    for (const item of this.byKey.values()) {
      item.dead = true;
      item.onDone?.(false);
    }
    this.byKey.clear();
    this.buckets.length = 0;
    this.garbage = 0;
  }

  /** Removes the message queued under `key`, if any. */
  remove(key: string): void {
    const item = this.byKey.get(key);
    if (item) this.retire(item, false);
  }

  private retire(item: Item<M>, delivered: boolean): void {
    item.dead = true;
    this.byKey.delete(item.key);
    this.garbage++;
    if (this.garbage > 64 && this.garbage > 2 * this.byKey.size) this.compact();
    item.onDone?.(delivered);
  }

  private compact(): void {
    for (let t = 0; t < this.buckets.length; t++) {
      const bucket = this.buckets[t];
      if (bucket && bucket.length > 0) this.buckets[t] = bucket.filter((x) => !x.dead);
    }
    this.garbage = 0;
  }

  private dropOne(): void {
    for (let t = this.buckets.length - 1; t >= 0; t--) {
      const bucket = this.buckets[t];
      if (!bucket) continue;
      for (let i = 0; i < bucket.length; i++) {
        const item = bucket[i]!;
        if (item.dead) continue;
        bucket.splice(i, 1);
        item.dead = true;
        this.byKey.delete(item.key);
        this.dropped++;
        item.onDone?.(false);
        return;
      }
    }
  }
}
