/**
 * The agent's side of endpoint gossip: it keeps the node in the gossip networks it needs,
 * publishes its own running endpoints into each network's "endpoints" table, follows what
 * the other nodes publish, and tracks which nodes the failure detector declares dead.
 * Every change calls `onChange` (the overlay runner's trigger); nothing else happens in a
 * handler.
 */
import type { Endpoint } from '../api/api-types.ts';
import type { Logger } from '../common/logger.ts';
import type { GossipNode, MemberEvent, TableChange } from '../gossip/index.ts';
import { decodeEndpointRecord, encodeEndpointRecord, type EndpointRecord } from '../overlay/endpoint-record.ts';
import type { GossipEndpoint } from './endpoint-view.ts';

export const ENDPOINT_TABLE = 'endpoints';

const DEAD_KINDS = new Set(['failed', 'left', 'removed']);
const ALIVE_KINDS = new Set(['joined', 'recovered', 'updated']);

export class GossipEndpoints {
  private readonly joined = new Set<string>();
  private readonly unwatch = new Map<string, () => void>();
  private readonly entries = new Map<string, Map<string, GossipEndpoint>>();
  private readonly published = new Map<string, Map<string, string>>();
  readonly dead = new Set<string>();
  private readonly offMembers: () => void;
  decodeErrors = 0;

  constructor(
    private readonly node: GossipNode,
    private readonly onChange: () => void,
    private readonly logger: Logger,
    /** A node declared gone is alive again (its gossip address). */
    private readonly onNodeBack: (addr: string) => void = () => {},
  ) {
    for (const m of node.members()) if (m.state === 'dead' || m.state === 'left') this.dead.add(m.name);
    this.offMembers = node.onMemberEvent((e) => this.onMember(e));
  }

  private onMember(e: MemberEvent): void {
    const name = e.member.name;
    if (name === this.node.name) return;
    if (DEAD_KINDS.has(e.kind)) {
      if (!this.dead.has(name)) {
        this.dead.add(name);
        this.logger.info({ node: name, event: e.kind }, 'gossip: node gone; its endpoints leave this node');
        this.onChange();
      }
    } else if (ALIVE_KINDS.has(e.kind) && this.dead.delete(name)) {
      this.logger.info({ node: name, event: e.kind }, 'gossip: node back');
      this.onChange();
      this.onNodeBack(e.member.addr);
    }
  }

  /** Joins exactly these networks' gossip (leaving the others). */
  setNetworks(ids: ReadonlySet<string>): void {
    for (const id of ids) {
      if (this.joined.has(id)) continue;
      this.joined.add(id);
      this.node.joinNetwork(id);
      this.unwatch.set(
        id,
        this.node.tables.watch(id, ENDPOINT_TABLE, (c) => this.onTable(c)),
      );
      const m = new Map<string, GossipEndpoint>();
      this.entries.set(id, m);
      // entries this node wrote in an earlier life (same node name) are ours to keep or
      // delete: publish() compares them with what runs now
      const mine = new Map<string, string>();
      for (const e of this.node.tables.list(id, ENDPOINT_TABLE)) {
        this.put(m, e.key, e.owner, e.value);
        if (e.owner === this.node.name) mine.set(e.key, '');
      }
      this.published.set(id, mine);
    }
    for (const id of [...this.joined]) {
      if (ids.has(id)) continue;
      this.joined.delete(id);
      this.unwatch.get(id)?.();
      this.unwatch.delete(id);
      this.entries.delete(id);
      this.published.delete(id);
      this.node.leaveNetwork(id);
    }
  }

  private put(m: Map<string, GossipEndpoint>, key: string, owner: string, value: Uint8Array): void {
    try {
      m.set(key, { owner, record: decodeEndpointRecord(value) });
    } catch (err) {
      this.decodeErrors++;
      this.logger.warn({ err, key, owner }, 'gossip: unreadable endpoint record');
    }
  }

  private onTable(c: TableChange): void {
    const m = this.entries.get(c.network);
    if (!m) return;
    if (c.kind === 'delete') {
      const cur = m.get(c.key);
      if (cur && cur.owner === c.owner) m.delete(c.key);
    } else {
      this.put(m, c.key, c.owner, c.value);
    }
    this.onChange();
  }

  /** Whether gossip has synced the network's table with a peer since joining it. */
  synced(networkId: string): boolean {
    return this.joined.has(networkId) && this.node.tables.synced(networkId);
  }

  /** Gossip's entries of one network. */
  view(networkId: string): ReadonlyMap<string, GossipEndpoint> {
    return this.entries.get(networkId) ?? new Map();
  }

  /** Publishes exactly these records of this node (per network), deleting the rest. */
  publish(records: readonly EndpointRecord[]): void {
    const want = new Map<string, Map<string, EndpointRecord>>();
    for (const r of records) {
      if (!this.joined.has(r.networkId)) continue;
      let m = want.get(r.networkId);
      if (!m) want.set(r.networkId, (m = new Map()));
      m.set(r.endpointId, r);
    }
    for (const net of this.joined) {
      const have = this.published.get(net) ?? new Map<string, string>();
      const next = want.get(net) ?? new Map<string, EndpointRecord>();
      for (const [id, r] of next) {
        const text = JSON.stringify(r);
        if (have.get(id) === text) continue;
        this.node.tables.set(net, ENDPOINT_TABLE, id, encodeEndpointRecord(r));
        have.set(id, text);
      }
      for (const id of [...have.keys()]) {
        if (next.has(id)) continue;
        this.node.tables.delete(net, ENDPOINT_TABLE, id);
        have.delete(id);
      }
      this.published.set(net, have);
    }
  }

  close(): void {
    this.offMembers();
    for (const off of this.unwatch.values()) off();
    this.unwatch.clear();
  }
}

/** The record this node publishes for one of its endpoints. */
export function endpointRecord(e: Endpoint, vtep: string, health: string, draining = false): EndpointRecord {
  return {
    endpointId: e.id,
    networkId: e.networkId,
    kind: e.kind,
    nodeId: e.nodeId,
    ip: e.addr.split('/')[0]!,
    mac: e.mac,
    vtep,
    serviceId: e.serviceId,
    serviceName: e.serviceName,
    taskId: e.ownerId,
    name: e.name,
    aliases: [...e.aliases],
    health,
    ipv6: e.addrV6,
    state: draining ? 'draining' : '',
  };
}
