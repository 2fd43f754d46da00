/**
 * Keyring: the cluster's gossip keys and the envelope that encrypts and authenticates every
 * datagram and stream frame with AES-256-GCM (node:crypto).
 *
 * Several keys may be installed at once. The primary key seals everything this node sends;
 * every installed key opens what it receives. Rotation without loss: install the new key on
 * every node, then make it primary everywhere, then remove the old one.
 *
 * Choices worth stating:
 * - Key id, not trial decryption: the envelope carries the first 4 bytes of
 *   SHA-256("shoal-gossip-key-id" || key). The receiver goes straight to the right key, so
 *   the cost of a datagram does not grow with the number of installed keys and a datagram
 *   under an unknown key is refused after a map lookup instead of N failed decryptions
 *   (cheap to drop floods). The id reveals which installed key was used, nothing about it.
 *   Two keys with the same id (1 in 2^32) are both tried.
 * - Nonce: 8 random bytes chosen per Keyring (re-drawn after 2^32 messages) followed by a
 *   32-bit counter. Nonces never repeat within a node, and two nodes collide only if they
 *   draw the same 64-bit prefix, so GCM's unique-nonce requirement holds without the 2^32
 *   message ceiling of fully random 96-bit nonces shared by a whole cluster.
 * - Authenticated data: the envelope version, the kind (datagram or stream), the key id and
 *   the send time, so a datagram cannot be replayed as a stream frame, nor a frame of
 *   another version, nor an old envelope with a new time.
 * - Replays: an envelope that authenticated is accepted once, and only when its send time
 *   is within the replay window's age of this node's wall clock (replay-window.ts): the
 *   same envelope again, or one captured and sent later, is dropped and counted. The check
 *   runs after authentication, so forged input never touches the windows.
 * - Unauthenticated input is never an exception: open() returns undefined and counts why.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Clock, systemClock } from '../common/clock.ts';
import { gossipError } from './errors.ts';
import {
  ENVELOPE_AAD_BYTES,
  ENVELOPE_HEADER_BYTES,
  ENVELOPE_NONCE_OFFSET,
  ENVELOPE_NONCE_PREFIX_BYTES,
  ENVELOPE_OVERHEAD,
  ENVELOPE_SENT_AT_BYTES,
  ENVELOPE_SENT_AT_OFFSET,
  ENVELOPE_TAG_BYTES,
  ENVELOPE_VERSION,
  type EnvelopeKind,
} from './envelope.ts';
import { defaultReplayWindowConfig, ReplayWindow, type ReplayWindowConfig, type ReplayWindowStats } from './replay-window.ts';

export const GOSSIP_KEY_BYTES = 32;

export interface KeyringStats {
  sealed: number;
  opened: number;
  /** Input refused, by reason. */
  rejectedShort: number;
  rejectedVersion: number;
  rejectedKind: number;
  rejectedUnknownKey: number;
  rejectedAuth: number;
  /** Authenticated, but sent outside the replay window's age (or before this node started). */
  rejectedStale: number;
  /** Authenticated, but its nonce was seen already (a replay). */
  rejectedReplay: number;
}

export interface KeyringOptions {
  /** Its wallNow() stamps sealed envelopes and judges their age; default the system clock. */
  readonly clock?: Pick<Clock, 'wallNow'>;
  /** The replay window's limits; default defaultReplayWindowConfig(). */
  readonly replay?: ReplayWindowConfig;
}

interface InstalledKey {
  readonly key: Buffer;
  readonly id: number;
}

/** A fresh random 32-byte key. */
export function generateGossipKey(): Uint8Array {
  return new Uint8Array(randomBytes(GOSSIP_KEY_BYTES));
}

/** The 32-bit key id carried in the envelope. */
export function gossipKeyId(key: Uint8Array): number {
  const digest = createHash('sha256').update('shoal-gossip-key-id').update(key).digest();
  return digest.readUInt32BE(0);
}

function checkKey(key: Uint8Array): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== GOSSIP_KEY_BYTES) {
    throw gossipError('SHOAL_ERR_GOSSIP_BAD_KEY', `a gossip key must be ${GOSSIP_KEY_BYTES} bytes`, {
      length: (key as Uint8Array | undefined)?.length,
    });
  }
  return Buffer.from(key);
}

export class Keyring {
  private keys: InstalledKey[] = [];
  private primaryIndex = 0;
  private byId = new Map<number, InstalledKey[]>();
  private noncePrefix: Buffer = randomBytes(8);
  private counter = 0;
  readonly stats: KeyringStats = {
    sealed: 0,
    opened: 0,
    rejectedShort: 0,
    rejectedVersion: 0,
    rejectedKind: 0,
    rejectedUnknownKey: 0,
    rejectedAuth: 0,
    rejectedStale: 0,
    rejectedReplay: 0,
  };
  private readonly clock: Pick<Clock, 'wallNow'>;
  private readonly replay: ReplayWindow;

  /** `keys[primary]` (default the first) seals; all open. At least one key is required. */
  constructor(keys: readonly Uint8Array[], primary = 0, options: KeyringOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.replay = new ReplayWindow(options.replay ?? defaultReplayWindowConfig(), this.clock.wallNow());
    if (keys.length === 0) throw gossipError('SHOAL_ERR_GOSSIP_BAD_KEY', 'a keyring needs at least one key');
    for (const k of keys) this.install(k);
    const p = keys[primary];
    if (p === undefined) throw gossipError('SHOAL_ERR_GOSSIP_KEY_IN_USE', `primary index ${primary} is not among the ${keys.length} keys`);
    this.use(p);
  }

  /** Installs a key for receiving (idempotent). */
  install(key: Uint8Array): void {
    const buf = checkKey(key);
    if (this.indexOf(buf) >= 0) return;
    const entry: InstalledKey = { key: buf, id: gossipKeyId(buf) };
    this.keys.push(entry);
    this.reindex();
  }

  /** Makes an installed key the primary (sending) key. */
  use(key: Uint8Array): void {
    const i = this.indexOf(checkKey(key));
    if (i < 0) throw gossipError('SHOAL_ERR_GOSSIP_KEY_IN_USE', 'the key to use is not installed');
    this.primaryIndex = i;
  }

  /** Removes a key (idempotent). The primary key cannot be removed. */
  remove(key: Uint8Array): void {
    const i = this.indexOf(checkKey(key));
    if (i < 0) return;
    if (i === this.primaryIndex)
      throw gossipError('SHOAL_ERR_GOSSIP_KEY_IN_USE', 'the primary key cannot be removed; use another key first');
    const primary = this.keys[this.primaryIndex]!;
    this.keys.splice(i, 1);
    this.primaryIndex = this.keys.indexOf(primary);
    this.reindex();
  }

  /** Copies of the installed keys, primary first. */
  list(): Uint8Array[] {
    const primary = this.keys[this.primaryIndex]!;
    return [primary, ...this.keys.filter((k) => k !== primary)].map((k) => new Uint8Array(k.key));
  }

  primaryKey(): Uint8Array {
    return new Uint8Array(this.keys[this.primaryIndex]!.key);
  }

  /** Encrypts `plaintext` into an envelope of `kind` under the primary key. */
  seal(kind: EnvelopeKind, plaintext: Uint8Array): Uint8Array {
    const k = this.keys[this.primaryIndex]!;
    const out = Buffer.allocUnsafe(ENVELOPE_OVERHEAD + plaintext.length);
    out[0] = ENVELOPE_VERSION;
    out[1] = kind;
    out.writeUInt32BE(k.id, 2);
    out.writeUIntBE(Math.max(0, Math.floor(this.clock.wallNow())), ENVELOPE_SENT_AT_OFFSET, ENVELOPE_SENT_AT_BYTES);
    this.nextNonce(out, ENVELOPE_NONCE_OFFSET);
    const cipher = createCipheriv('aes-256-gcm', k.key, out.subarray(ENVELOPE_NONCE_OFFSET, ENVELOPE_HEADER_BYTES));
    cipher.setAAD(out.subarray(0, ENVELOPE_AAD_BYTES));
    const n = cipher.update(plaintext).copy(out, ENVELOPE_HEADER_BYTES);
    const tail = cipher.final();
    if (tail.length > 0) tail.copy(out, ENVELOPE_HEADER_BYTES + n);
    cipher.getAuthTag().copy(out, ENVELOPE_HEADER_BYTES + plaintext.length);
    this.stats.sealed++;
    return out;
  }

  /** Authenticates and decrypts an envelope of `kind`; undefined (and counted) if it fails. */
  open(kind: EnvelopeKind, data: Uint8Array): Uint8Array | undefined {
    if (data.length < ENVELOPE_OVERHEAD) {
      this.stats.rejectedShort++;
      return undefined;
    }
    if (data[0] !== ENVELOPE_VERSION) {
      this.stats.rejectedVersion++;
      return undefined;
    }
    if (data[1] !== kind) {
      this.stats.rejectedKind++;
      return undefined;
    }
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const candidates = this.byId.get(buf.readUInt32BE(2));
    if (!candidates) {
      this.stats.rejectedUnknownKey++;
      return undefined;
    }
    const nonce = buf.subarray(ENVELOPE_NONCE_OFFSET, ENVELOPE_HEADER_BYTES);
    const aad = buf.subarray(0, ENVELOPE_AAD_BYTES);
    const body = buf.subarray(ENVELOPE_HEADER_BYTES, buf.length - ENVELOPE_TAG_BYTES);
    const tag = buf.subarray(buf.length - ENVELOPE_TAG_BYTES);
    let opened: Buffer | undefined;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // a failed tag check throws; do not pay for a stack trace
    try {
      for (const k of candidates) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', k.key, nonce);
          decipher.setAAD(aad);
          decipher.setAuthTag(tag);
          const head = decipher.update(body);
          const tail = decipher.final();
          opened = tail.length === 0 ? head : Buffer.concat([head, tail]);
          break;
        } catch {
          // try the next key with this id
        }
      }
    } finally {
      Error.stackTraceLimit = limit;
    }
    if (!opened) {
      this.stats.rejectedAuth++;
      return undefined;
    }
    const verdict = this.replay.check(
      buf.toString('hex', ENVELOPE_NONCE_OFFSET, ENVELOPE_NONCE_OFFSET + ENVELOPE_NONCE_PREFIX_BYTES),
      buf.readUInt32BE(ENVELOPE_NONCE_OFFSET + ENVELOPE_NONCE_PREFIX_BYTES),
      buf.readUIntBE(ENVELOPE_SENT_AT_OFFSET, ENVELOPE_SENT_AT_BYTES),
      this.clock.wallNow(),
    );
    if (verdict === 'stale') {
      this.stats.rejectedStale++;
      return undefined;
    }
    if (verdict === 'replayed') {
      this.stats.rejectedReplay++;
      return undefined;
    }
    this.stats.opened++;
    return opened;
  }

  /** The replay window's occupancy (senders held, windows evicted). */
  replayStats(): ReplayWindowStats {
    return this.replay.stats();
  }

  private nextNonce(out: Buffer, at: number): void {
    if (this.counter >= 0xffffffff) {
      this.noncePrefix = randomBytes(8);
      this.counter = 0;
    }
    this.noncePrefix.copy(out, at);
    out.writeUInt32BE(this.counter++, at + 8);
  }

  private indexOf(key: Buffer): number {
    return this.keys.findIndex((k) => k.key.length === key.length && timingSafeEqual(k.key, key));
  }

  private reindex(): void {
    this.byId = new Map();
    for (const k of this.keys) {
      const list = this.byId.get(k.id);
      if (list) list.push(k);
      else this.byId.set(k.id, [k]);
    }
  }
}

export function createKeyring(keys: readonly Uint8Array[], primary = 0, options: KeyringOptions = {}): Keyring {
  return new Keyring(keys, primary, options);
}
