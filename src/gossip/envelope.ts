/**
 * Layout of the AES-256-GCM envelope around every datagram and stream frame plaintext:
 *
 *   [version][kind][key id x4][nonce x12] ciphertext [tag x16]
 *
 * The first six bytes (version, kind, key id) are the authenticated data, so a datagram
 * cannot be replayed as a stream frame, nor a frame of another version. keyring.ts seals
 * and opens envelopes; the packing arithmetic (wire-size.ts) needs only the overhead.
 */

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_KIND_PACKET = 1;
export const ENVELOPE_KIND_STREAM = 2;
export const ENVELOPE_HEADER_BYTES = 18;
export const ENVELOPE_AAD_BYTES = 6;
export const ENVELOPE_TAG_BYTES = 16;
/** Bytes the envelope adds to a plaintext. */
export const ENVELOPE_OVERHEAD = ENVELOPE_HEADER_BYTES + ENVELOPE_TAG_BYTES;

export type EnvelopeKind = typeof ENVELOPE_KIND_PACKET | typeof ENVELOPE_KIND_STREAM;
