/**
 * The gossip message vocabulary: the plain TypeScript shapes of every message the state
 * machines exchange (datagram messages and stream frames), the protocol versions this build
 * speaks, and the limits every decoder enforces. No encoding lives here: sizes are in
 * wire-size.ts, the protobuf codec of proto/gossip.proto in wire-codec.ts, the envelope
 * layout in envelope.ts. The state machines import this module and never the codec.
 */

/** Gossip protocol versions this build speaks (advertised in Alive). */
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 1;

/** Longest node, network or table name, and address, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 255;
/** Longest table key. */
export const MAX_KEY_LENGTH = 1024;
/** Largest incarnation or Lamport time accepted (integers stay exact as JS numbers). */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER - 2 ** 32;

// ---------------------------------------------------------------------------------------
// Messages (datagram level)

export interface PingMsg {
  readonly kind: 'ping';
  readonly seq: number;
  readonly target: string;
}
export interface IndirectPingMsg {
  readonly kind: 'indirect-ping';
  readonly seq: number;
  readonly target: string;
  readonly targetAddr: string;
  readonly wantNack: boolean;
}
export interface AckMsg {
  readonly kind: 'ack';
  readonly seq: number;
}
export interface NackMsg {
  readonly kind: 'nack';
  readonly seq: number;
}
export interface AliveMsg {
  readonly kind: 'alive';
  readonly node: string;
  readonly addr: string;
  readonly incarnation: number;
  readonly protocolMin: number;
  readonly protocolMax: number;
}
export interface SuspectMsg {
  readonly kind: 'suspect';
  readonly node: string;
  readonly incarnation: number;
  readonly from: string;
}
export interface DeadMsg {
  readonly kind: 'dead';
  readonly node: string;
  readonly incarnation: number;
  readonly from: string;
}
export interface NetworkEventMsg {
  readonly kind: 'network';
  readonly node: string;
  readonly network: string;
  readonly ltime: number;
  readonly joined: boolean;
}
export interface TableEventMsg {
  readonly kind: 'table';
  readonly network: string;
  readonly table: string;
  readonly key: string;
  readonly owner: string;
  readonly ltime: number;
  readonly deleted: boolean;
  readonly value: Uint8Array;
  /** For a tombstone: how long the sender keeps it, ms (0 for live entries). */
  readonly reapInMs: number;
}

export type SwimMsg = PingMsg | IndirectPingMsg | AckMsg | NackMsg | AliveMsg | SuspectMsg | DeadMsg;
export type GossipMessage = SwimMsg | NetworkEventMsg | TableEventMsg;

export interface Packet {
  readonly from: string;
  readonly messages: readonly GossipMessage[];
}

// ---------------------------------------------------------------------------------------
// Stream frames

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberStateWire {
  readonly node: string;
  readonly addr: string;
  readonly incarnation: number;
  readonly status: MemberStatus;
}
export interface AttachmentWire {
  readonly node: string;
  readonly network: string;
  readonly ltime: number;
  readonly joined: boolean;
}
export interface OwnerDigestWire {
  readonly owner: string;
  readonly count: number;
  readonly hashLo: number;
  readonly hashHi: number;
}
export interface EntryVersionWire {
  readonly owner: string;
  readonly table: string;
  readonly key: string;
  readonly ltime: number;
  readonly deleted: boolean;
}
export interface EntryRefWire {
  readonly owner: string;
  readonly table: string;
  readonly key: string;
}

export interface PushPullBody {
  readonly kind: 'push-pull';
  readonly join: boolean;
  readonly members: readonly MemberStateWire[];
  readonly attachments: readonly AttachmentWire[];
}
export interface AttachmentDigestWire {
  readonly count: number;
  readonly hashLo: number;
  readonly hashHi: number;
}
export interface TableSyncBody {
  readonly kind: 'table-sync';
  readonly network: string;
  readonly owners: readonly OwnerDigestWire[];
  readonly attachments: AttachmentDigestWire;
}
export interface TableSyncReplyBody {
  readonly kind: 'table-sync-reply';
  readonly network: string;
  readonly member: boolean;
  readonly differingOwners: readonly string[];
  readonly versions: readonly EntryVersionWire[];
  readonly attachments: readonly AttachmentWire[];
  readonly wantAttachments: boolean;
}
export interface TableFetchBody {
  readonly kind: 'table-fetch';
  readonly network: string;
  readonly want: readonly EntryRefWire[];
  readonly push: readonly TableEventMsg[];
  readonly attachments: readonly AttachmentWire[];
}
export interface TableFetchReplyBody {
  readonly kind: 'table-fetch-reply';
  readonly network: string;
  readonly entries: readonly TableEventMsg[];
}
export interface DeliverBody {
  readonly kind: 'deliver';
  readonly messages: readonly GossipMessage[];
}
export interface DoneBody {
  readonly kind: 'done';
}
export interface RefusedBody {
  readonly kind: 'refused';
  readonly reason: string;
}

export type FrameBody =
  | PushPullBody
  | TableSyncBody
  | TableSyncReplyBody
  | TableFetchBody
  | TableFetchReplyBody
  | DeliverBody
  | DoneBody
  | RefusedBody;

export interface StreamFrame {
  readonly from: string;
  readonly body: FrameBody;
}
