/**
 * shoal gossip: SWIM membership with Lifeguard, per-network replicated tables, AES-256-GCM
 * on every datagram and stream. The public API of the subsystem; see README.md.
 */
export {
  defaultLanConfig,
  defaultLocalConfig,
  defaultWanConfig,
  intervalScale,
  retransmitLimit,
  suspicionMaxMs,
  suspicionMinMs,
  validateGossipConfig,
  type GossipConfig,
  type GossipConfigInput,
} from './config.ts';
export { GOSSIP_ERRORS, type GossipErrorCode } from './errors.ts';
export {
  Keyring,
  createKeyring,
  generateGossipKey,
  gossipKeyId,
  GOSSIP_KEY_BYTES,
  type KeyringOptions,
  type KeyringStats,
} from './keyring.ts';
export { ReplayWindow, defaultReplayWindowConfig, type ReplayWindowConfig, type ReplayVerdict } from './replay-window.ts';
export {
  GossipNode,
  createGossipNode,
  createSimulatedNode,
  type GossipNodeOptions,
  type GossipNodeBaseOptions,
  type SimulatedNodeOptions,
  type GossipStats,
  type GossipDrops,
  type NodeStatus,
} from './memberlist.ts';
export { GossipTables, type TableWatcher } from './tables.ts';
export type { TableChange, TableChangeKind, TableEntry } from './table-state.ts';
export type { MemberEvent, MemberEventKind, MemberInfo } from './swim.ts';
export type { MemberStatus, Packet, StreamFrame } from './messages.ts';
export { membershipSnapshot, type MembershipSnapshot } from './member-table.ts';
export { type Transport, type TransportHandlers, type RequestCallback, splitAddress, joinAddress } from './transport.ts';
export { MemoryNetwork, MemoryTransport, type MemoryNetworkOptions, type MemoryNetworkStats } from './memory-transport.ts';
export { NetTransport, type NetTransportOptions, type NetTransportStats } from './net-transport.ts';
export { sealedPacketSize, sealedFrameSize } from './transport-codec.ts';
export { Simulation, LaggingClock, simAddress, simName, type SimulationOptions, type SimulationMode, type SimNode } from './simulation.ts';
