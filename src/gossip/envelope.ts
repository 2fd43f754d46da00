/**
 * Layout of the AES-256-GCM envelope around every datagram and stream frame plaintext.
 *
 * Version 2 (what this code seals and opens):
 *
 *   [version][kind][key id x4][sent at x6][nonce x12] ciphertext [tag x16]
 *
 * The first twelve bytes (version, kind, key id, send time) are the authenticated data, so
 * a datagram cannot be replayed as a stream frame, nor a frame of another version, and the
 * send time cannot be rewritten to move an old envelope into the receiver's window. The
 * send time is the sender's wall clock in milliseconds since the Unix epoch (unsigned
 * 48-bit, big-endian). The nonce is an 8-byte prefix drawn per sending keyring followed by
 * a 32-bit counter: the receiver's replay window (replay-window.ts) keeps, per prefix, which
 * counters it has seen.
 *
 * Version 1 (before replay protection) had no send time: [version][kind][key id x4][nonce
 * x12]. It is refused (counted as a version drop): accepting it would let anyone replay
 * old version-1 envelopes around the window. Numbers are append-only: a later layout takes
 * version 3.
 *
 * keyring.ts seals and opens envelopes; the packing arithmetic (wire-size.ts) needs only the
 * overhead.
 */

export const ENVELOPE_VERSION = 2;
export const ENVELOPE_KIND_PACKET = 1;
export const ENVELOPE_KIND_STREAM = 2;
/** Offset and size of the send time (ms since the epoch, unsigned 48-bit big-endian). */
export const ENVELOPE_SENT_AT_OFFSET = 6;
export const ENVELOPE_SENT_AT_BYTES = 6;
/** Offset of the nonce: an 8-byte per-sender prefix, then a 32-bit counter. */
export const ENVELOPE_NONCE_OFFSET = 12;
export const ENVELOPE_NONCE_BYTES = 12;
export const ENVELOPE_NONCE_PREFIX_BYTES = 8;
export const ENVELOPE_HEADER_BYTES = 24;
export const ENVELOPE_AAD_BYTES = 12;
export const ENVELOPE_TAG_BYTES = 16;
/** Bytes the envelope adds to a plaintext. */
export const ENVELOPE_OVERHEAD = ENVELOPE_HEADER_BYTES + ENVELOPE_TAG_BYTES;

export type EnvelopeKind = typeof ENVELOPE_KIND_PACKET | typeof ENVELOPE_KIND_STREAM;
