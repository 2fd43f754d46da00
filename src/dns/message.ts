/**
 * A DNS message as the resolver handles it: what wire.ts decodes a query into and encodes
 * an answer from, and what the handlers (handler.ts) read and write. Only what the embedded
 * resolver needs: one question, the record types it answers or forwards, EDNS's payload
 * size. Names are lower-case, without the trailing dot ("web.front", "" for the root).
 */

/** Record types by their wire value (RFC 1035, 3596, 2782, 6891). */
export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const CLASS_IN = 1;

/** Response codes (RFC 1035 4.1.1, 6895). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

export const OPCODE_QUERY = 0;

export interface Question {
  /** Lower-case, no trailing dot. */
  name: string;
  type: number;
  class: number;
}

/** The data of the records the resolver itself writes; others travel as raw bytes. */
export type RecordData =
  | { kind: 'a'; address: string }
  | { kind: 'aaaa'; address: string }
  | { kind: 'ptr'; name: string }
  | { kind: 'cname'; name: string }
  | { kind: 'srv'; priority: number; weight: number; port: number; target: string }
  | { kind: 'soa'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'raw'; bytes: Uint8Array };

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  /** Seconds. */
  ttl: number;
  data: RecordData;
}

export interface Edns {
  /** The requester's UDP payload size (at least 512 is assumed). */
  udpPayloadSize: number;
  /** The DO bit. */
  dnssecOk: boolean;
}

export interface Query {
  id: number;
  opcode: number;
  /** Recursion desired. */
  rd: boolean;
  /** Checking disabled (passed on when forwarding). */
  cd: boolean;
  question: Question;
  /** Present when the query carried an OPT record. */
  edns?: Edns;
}

export interface Response {
  id: number;
  opcode: number;
  rcode: number;
  /** Authoritative answer: set for names the resolver owns. */
  aa: boolean;
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  cd: boolean;
  /** Truncated: set by the encoder when the answer did not fit. */
  tc: boolean;
  question: Question | undefined;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
  /** Echoed as an OPT record when the query had one. */
  edns?: Edns;
  /**
   * Whether the server may answer the same query again with these bytes until the records
   * change (answer-cache.ts): `same` as they are, `shuffle` with the addresses of each
   * name's records permuted. Unset: never (a forwarded answer, an error).
   */
  reuse?: AnswerReuse;
}

/** How an answer may be reused: see Response.reuse. */
export type AnswerReuse = 'same' | 'shuffle';

/** A response to `q` with nothing in it yet (rcode NOERROR, RA set: the resolver recurses). */
export function emptyResponse(q: Query, rcode: number = RCODE.NOERROR): Response {
  return {
    id: q.id,
    opcode: q.opcode,
    rcode,
    aa: false,
    rd: q.rd,
    ra: true,
    cd: q.cd,
    tc: false,
    question: q.question,
    answers: [],
    authority: [],
    additional: [],
    ...(q.edns ? { edns: { udpPayloadSize: 4096, dnssecOk: false } } : {}),
  };
}
