/**
 * Configuration of the manager: one object, every field documented with its unit and
 * trade-off, defaults in one table, validated all at once (every problem reported), frozen.
 *
 * Fields that shape the cluster (address pools, port range, VXLAN IDs) are read at cluster
 * init and stored with the cluster; on later starts the stored values win, so a restart with
 * different flags cannot reshuffle what is already allocated.
 */
import { isIP } from 'node:net';
import { splitHostPort } from '../api/host-port.ts';
import { ShoalError } from '../common/errors.ts';

export interface ManagerConfig {
  /** Directory of the store, sockets, certificates (see src/api/data-dir.ts). */
  readonly dataDir: string;
  /** `--listen-addr IP:PORT`: TCP address of the mTLS API for agents and remote CLIs. Port 0 picks a free port (tests). */
  readonly listenAddr: string;
  /** `--advertise-addr IP`: the address other nodes reach this manager (and its node) at. Default: the listen IP unless that is a wildcard. */
  readonly advertiseAddr: string;
  /** `--default-addr-pool CIDR` (repeatable): IPv4 pools that network subnets are carved from at cluster init. */
  readonly defaultAddrPools: readonly string[];
  /** `--default-addr-pool-mask-length N`: prefix length of carved subnets. Larger = more, smaller networks. */
  readonly defaultAddrPoolMaskLength: number;
  /**
   * How often agents send a heartbeat, ms. Shorter detects dead nodes sooner at the cost
   * of more messages (one per node per period) and more false alarms on a loaded box.
   */
  readonly heartbeatPeriodMs: number;
  /**
   * Silence after which a node is marked Down and its tasks are rescheduled, ms. Must be
   * longer than the heartbeat period; Docker uses three periods plus margin.
   */
  readonly nodeDownAfterMs: number;
  /** Age at which the gossip keyring gets a new primary key, ms; 0 = only on request. Docker rotates every 12 h. */
  readonly gossipKeyRotationMs: number;
  /** Number of gossip keys kept (the newest is primary; older ones still decrypt in-flight traffic). */
  readonly gossipKeyringSize: number;
  /** Default lifetime of node certificates, ms (until `swarm update --cert-expiry` sets the cluster's). Shorter limits a stolen key's use; nodes renew at 50-80% of it. */
  readonly nodeCertValidityMs: number;
  /** Ended tasks kept per slot for `service ps` history (Docker's task-history-retention-limit). */
  readonly taskHistoryRetention: number;
  /** Coalescing interval of assignment deltas to agents, ms. Larger = fewer, bigger messages. */
  readonly sessionMinIntervalMs: number;
  /**
   * How long the manager waits for an agent's answer to a relayed request, ms: a logs
   * request, or an exec beyond the command's own time limit. Longer tolerates slow disks
   * and loaded nodes; shorter reports a hung agent sooner. At most 12 s: clients give an
   * exec call 15 s beyond the command's limit (RELAY_MARGIN_MS in src/api/client.ts), and
   * the manager must answer first to say what happened.
   */
  readonly agentRequestTimeoutMs: number;
  /** Published ports allocated automatically come from this inclusive range (Docker: 30000-32767). */
  readonly portRangeStart: number;
  readonly portRangeEnd: number;
}

export type ManagerConfigInput = Partial<ManagerConfig> & { dataDir: string };

/** The one table of defaults. */
export const MANAGER_DEFAULTS = Object.freeze({
  listenAddr: '0.0.0.0:2377',
  defaultAddrPools: Object.freeze(['10.0.0.0/8']) as readonly string[],
  defaultAddrPoolMaskLength: 24,
  heartbeatPeriodMs: 5_000,
  nodeDownAfterMs: 15_000,
  gossipKeyRotationMs: 12 * 3600_000,
  gossipKeyringSize: 3,
  nodeCertValidityMs: 90 * 24 * 3600_000,
  taskHistoryRetention: 5,
  sessionMinIntervalMs: 50,
  agentRequestTimeoutMs: 10_000,
  portRangeStart: 30_000,
  portRangeEnd: 32_767,
});

/** The fixed parts of the overlay plan (ARCHITECTURE.md). */
export const INGRESS_NETWORK_NAME = 'ingress';
export const INGRESS_VXLAN_ID = 4096;
export const FIRST_USER_VXLAN_ID = 4097;
/** VXLAN IDs are 24 bits. */
export const MAX_VXLAN_ID = 0xffffff;
export const DATA_PATH_PORT = 4789;

/** Merges input over the defaults, validates everything, freezes. */
export function resolveManagerConfig(input: ManagerConfigInput): ManagerConfig {
  const listenAddr = input.listenAddr ?? MANAGER_DEFAULTS.listenAddr;
  const listen = splitHostPort(listenAddr);
  const wildcard = listen !== undefined && (listen.host === '0.0.0.0' || listen.host === '::');
  const advertiseAddr = input.advertiseAddr ?? (listen && !wildcard ? listen.host : '');
  const config: ManagerConfig = Object.freeze({
    dataDir: input.dataDir,
    listenAddr,
    advertiseAddr,
    defaultAddrPools: Object.freeze([...(input.defaultAddrPools ?? MANAGER_DEFAULTS.defaultAddrPools)]),
    defaultAddrPoolMaskLength: input.defaultAddrPoolMaskLength ?? MANAGER_DEFAULTS.defaultAddrPoolMaskLength,
    heartbeatPeriodMs: input.heartbeatPeriodMs ?? MANAGER_DEFAULTS.heartbeatPeriodMs,
    nodeDownAfterMs: input.nodeDownAfterMs ?? MANAGER_DEFAULTS.nodeDownAfterMs,
    gossipKeyRotationMs: input.gossipKeyRotationMs ?? MANAGER_DEFAULTS.gossipKeyRotationMs,
    gossipKeyringSize: input.gossipKeyringSize ?? MANAGER_DEFAULTS.gossipKeyringSize,
    nodeCertValidityMs: input.nodeCertValidityMs ?? MANAGER_DEFAULTS.nodeCertValidityMs,
    taskHistoryRetention: input.taskHistoryRetention ?? MANAGER_DEFAULTS.taskHistoryRetention,
    sessionMinIntervalMs: input.sessionMinIntervalMs ?? MANAGER_DEFAULTS.sessionMinIntervalMs,
    agentRequestTimeoutMs: input.agentRequestTimeoutMs ?? MANAGER_DEFAULTS.agentRequestTimeoutMs,
    portRangeStart: input.portRangeStart ?? MANAGER_DEFAULTS.portRangeStart,
    portRangeEnd: input.portRangeEnd ?? MANAGER_DEFAULTS.portRangeEnd,
  });

  const problems: string[] = [];
  if (typeof config.dataDir !== 'string' || config.dataDir === '') problems.push('dataDir (--data-dir) is required');
  if (!listen) problems.push(`listenAddr ${JSON.stringify(listenAddr)} is not IP:PORT`);
  if (config.advertiseAddr === '') problems.push('advertiseAddr (--advertise-addr) is required when listening on a wildcard address');
  else if (isIP(config.advertiseAddr) === 0) problems.push(`advertiseAddr ${JSON.stringify(config.advertiseAddr)} is not an IP address`);
  if (config.defaultAddrPools.length === 0) problems.push('at least one default address pool is required');
  const posInt = (name: keyof ManagerConfig, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = config[name] as number;
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${name} ${v} is out of range ${min}-${max}`);
  };
  posInt('defaultAddrPoolMaskLength', 1, 30);
  posInt('heartbeatPeriodMs', 10);
  posInt('nodeDownAfterMs', 20);
  posInt('gossipKeyRotationMs', 0);
  posInt('gossipKeyringSize', 1, 16);
  posInt('nodeCertValidityMs', 60_000);
  posInt('taskHistoryRetention', 0, 1000);
  posInt('sessionMinIntervalMs', 0, 60_000);
  posInt('agentRequestTimeoutMs', 100, 12_000);
  posInt('portRangeStart', 1, 65535);
  posInt('portRangeEnd', 1, 65535);
  if (config.nodeDownAfterMs <= config.heartbeatPeriodMs)
    problems.push(`nodeDownAfterMs ${config.nodeDownAfterMs} must exceed heartbeatPeriodMs ${config.heartbeatPeriodMs}`);
  if (config.portRangeEnd < config.portRangeStart) problems.push(`port range ${config.portRangeStart}-${config.portRangeEnd} is empty`);
  if (problems.length > 0) {
    throw new ShoalError('SHOAL_ERR_INVALID_CONFIG', `invalid manager configuration: ${problems.join('; ')}`, { details: { problems } });
  }
  return config;
}
