/**
 * The embedded resolver's records: a read-only index of the names a sandbox can resolve,
 * built once per change of the agent's view (buildRecordIndex is pure; the agent rebuilds
 * and swaps the index), read by handlers/records.ts for every query. No I/O.
 *
 * What is in it, per overlay network (the ingress network has no records):
 * - `<service>` and each of the service's aliases on that network: the service's VIP on that
 *   network (endpoint mode vip), or the addresses of its serving tasks (dnsrr);
 * - `tasks.<service>` and `tasks.<alias>`: the addresses of its serving tasks, whatever the
 *   endpoint mode;
 * - a task's name (`<service>.<slot>.<id>`, `<service>.<node id>.<id>` for a global
 *   service), a container's name, their hostnames and their aliases on that network: the
 *   task's or container's addresses there;
 * - every one of those again as `<name>.<network name>`, which resolves in that network only;
 * - reverse entries for task, container and VIP addresses: a VIP answers its service's name,
 *   a task or container address `<task or container name>.<network name>` (Docker's answer:
 *   it names one attachment, and resolves forward to that very address from that network).
 *
 * A task serves (is in `tasks.` and in dnsrr answers) while it runs, passes its health check
 * or has none, and is not draining. A task that does not serve keeps its own names: it still
 * has its address, and naming it is how one debugs it.
 *
 * One name, several owners on a network: a service's name beats a service alias, which beats
 * the names of tasks and containers; owners of equal rank are merged (their addresses
 * unioned). A sandbox on several networks gets the union over those networks, under the same
 * ranking, so the answer does not depend on the order of its networks.
 *
 * Names are compared lower-case and without a trailing dot. IPv6 addresses count only on
 * networks with IPv6 enabled. Addresses may carry a prefix length ("10.0.1.5/24").
 */
import { bareIp, formatV4, formatV6, parseV4, parseV6 } from '../common/ip.ts';

// ------------------------------------------------------------------------------ input

/** A network, as api-types' Network (id, spec.name, spec.ipv6, spec.internal, ingress). */
export interface RecordNetwork {
  id: string;
  name: string;
  /** IPv6 enabled: AAAA records are answered on this network. Absent = false. */
  ipv6?: boolean;
  /** No external access (the forwarder reads this; records are the same). */
  internal: boolean;
  /** The routing mesh's network: no records at all. */
  ingress: boolean;
}

/** A service, as api-types' Service (spec.name, spec.endpointSpec.mode, endpoint.virtualIps, spec.networks). */
export interface RecordService {
  id: string;
  name: string;
  /** 'vip' or 'dnsrr'; anything else is taken as 'vip'. */
  endpointMode: string;
  /** One per network; addr with or without a prefix length. */
  virtualIps: readonly { networkId: string; addr: string }[];
  /** The networks the service is attached to (target: the network ID) and its aliases on each. */
  networks: readonly { target: string; aliases: readonly string[] }[];
}

/** A task's or container's attachment to a network, as api-types' NetworkAttachment. */
export interface RecordAttachment {
  networkId: string;
  /** With or without prefix length. */
  addresses: readonly string[];
  aliases: readonly string[];
}

/** A task, as api-types' Task (status.state, status.health) plus its endpoints' draining state. */
export interface RecordTask {
  id: string;
  /** Absent: `<service>.<slot>.<id>`, or `<service>.<node id>.<id>` when slot is 0 (global). */
  name?: string;
  serviceId: string;
  /** 1-based for replicated services, 0 for global ones. */
  slot: number;
  nodeId: string;
  /** The container's hostname (spec.hostname); absent or empty: none. */
  hostname?: string;
  networks: readonly RecordAttachment[];
  /** TaskState: only 'running' serves. */
  state: string;
  /** TaskHealth: '' (no check) or 'healthy' serve; 'starting' and 'unhealthy' do not. */
  health: string;
  /** Its endpoints are draining (the task is being shut down). */
  draining: boolean;
}

/** A standalone container attached to overlay networks, as api-types' Container. */
export interface RecordContainer {
  id: string;
  name: string;
  hostname?: string;
  networks: readonly RecordAttachment[];
}

export interface RecordInput {
  networks: readonly RecordNetwork[];
  services: readonly RecordService[];
  tasks: readonly RecordTask[];
  containers: readonly RecordContainer[];
}

// ------------------------------------------------------------------------------ index

/** How a name answers: a VIP, a set of tasks (answers are shuffled), or a host's own addresses. */
export type RecordKind = 'vip' | 'tasks' | 'host';

export interface RecordSet {
  readonly kind: RecordKind;
  /** Canonical text, sorted. Possibly empty: the name exists, with no address of that family. */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

/** Something in the input the index left out, and why. */
export interface RecordProblem {
  readonly object: string;
  readonly message: string;
}

export interface RecordIndex {
  /** The records of `name` on the given networks (those of the asking sandbox), or undefined. */
  lookup(name: string, networkIds: readonly string[]): RecordSet | undefined;
  /** The names of `address` (any text form) on the given networks, sorted; [] when none. */
  reverse(address: string, networkIds: readonly string[]): readonly string[];
  /**
   * Whether `name` is in a namespace the resolver owns for these networks, so that a name
   * it does not know there is NXDOMAIN rather than passed on: `tasks.*`, and `*.<network
   * name>` for each of the networks (ingress excluded).
   */
  owns(name: string, networkIds: readonly string[]): boolean;
  /** The network with this ID, or undefined. */
  networkOf(networkId: string): RecordNetwork | undefined;
  /** Inputs left out (unknown networks or services, unparsable addresses). */
  readonly problems: readonly RecordProblem[];
}

/** Rank of an owner of a name: a lower rank wins over a higher one; equal ranks merge. */
const RANK_SERVICE = 0;
const RANK_ALIAS = 1;
const RANK_HOST = 2;

/** A name's records while building: duplicates allowed, removed when frozen. */
interface Entry {
  rank: number;
  kind: RecordKind;
  v4: string[];
  v6: string[];
}

/** A name's records in the index, with the rank of their owner. */
interface Stored {
  readonly rank: number;
  readonly set: RecordSet;
}

interface NetworkRecords {
  network: RecordNetwork;
  /** Lower-case bare name -> records; `<name>.<network>` is looked up as `<name>` here. */
  names: Map<string, Stored>;
  /** Canonical address -> names, sorted. */
  reverse: Map<string, readonly string[]>;
  /** ".<network name>", lower-case. */
  suffix: string;
}

/** Lower-case, without one trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

const scratchWords = new Uint16Array(8);

/** Canonical text and family of an address (prefix length dropped), or undefined. */
export function canonicalAddress(text: string): { family: 4 | 6; address: string } | undefined {
  const bare = bareIp(text);
  if (bare.includes(':')) return parseV6(bare, scratchWords) ? { family: 6, address: formatV6(scratchWords) } : undefined;
  const v4 = parseV4(bare);
  return v4 < 0 ? undefined : { family: 4, address: formatV4(v4) };
}

/** The name a task answers to: its own, or the one the manager would give it. */
export function taskName(task: RecordTask, serviceName: string): string {
  if (task.name !== undefined && task.name !== '') return task.name;
  return task.slot > 0 ? `${serviceName}.${task.slot}.${task.id}` : `${serviceName}.${task.nodeId}.${task.id}`;
}

/** Whether a task is in `tasks.<service>` and in dnsrr answers. */
export function taskServes(task: RecordTask): boolean {
  return task.state === 'running' && (task.health === '' || task.health === 'healthy') && !task.draining;
}

class Builder {
  readonly entries = new Map<string, Map<string, Entry>>();
  readonly reverse = new Map<string, Map<string, string[]>>();
  readonly problems: RecordProblem[] = [];

  constructor(readonly networks: Map<string, RecordNetwork>) {
    for (const id of networks.keys()) {
      this.entries.set(id, new Map());
      this.reverse.set(id, new Map());
    }
  }

  /** The network's records, or undefined (and a problem) when it is unknown; undefined also for ingress. */
  network(networkId: string, object: string): RecordNetwork | undefined {
    const network = this.networks.get(networkId);
    if (network === undefined) {
      this.problems.push({ object, message: `network ${networkId} is not in the input` });
      return undefined;
    }
    return network.ingress ? undefined : network;
  }

  /** Canonical addresses of the families the network carries. */
  addresses(network: RecordNetwork, texts: readonly string[], object: string): { v4: string[]; v6: string[] } {
    const v4: string[] = [];
    const v6: string[] = [];
    for (const text of texts) {
      const a = canonicalAddress(text);
      if (a === undefined) this.problems.push({ object, message: `address ${JSON.stringify(text)} does not parse` });
      else if (a.family === 4) v4.push(a.address);
      else if (network.ipv6 === true) v6.push(a.address);
    }
    return { v4, v6 };
  }

  /** Adds `name` on the network (which also makes `name.<network>`). */
  add(network: RecordNetwork, name: string, rank: number, kind: RecordKind, v4: readonly string[], v6: readonly string[]): void {
    const key = normalizeName(name);
    if (key === '') return;
    const names = this.entries.get(network.id)!;
    let entry = names.get(key);
    if (entry === undefined || rank < entry.rank) {
      entry = { rank, kind, v4: [], v6: [] };
      names.set(key, entry);
    } else if (rank > entry.rank) return;
    for (const a of v4) entry.v4.push(a);
    for (const a of v6) entry.v6.push(a);
  }

  addReverse(network: RecordNetwork, addresses: readonly string[], name: string): void {
    const map = this.reverse.get(network.id)!;
    for (const a of addresses) {
      let names = map.get(a);
      if (names === undefined) map.set(a, (names = []));
      names.push(normalizeName(name));
    }
  }
}

/** Builds the index of a model. Pure; the input is not kept (the index holds its own copies). */
export function buildRecordIndex(input: RecordInput): RecordIndex {
  const networks = new Map<string, RecordNetwork>();
  for (const n of input.networks) networks.set(n.id, { ...n });
  const b = new Builder(networks);
  const services = new Map<string, RecordService>();
  for (const s of input.services) services.set(s.id, s);

  // Serving task addresses per service and network, for dnsrr names and tasks.<service>.
  const serving = new Map<string, Map<string, { v4: string[]; v6: string[] }>>();
  for (const task of input.tasks) {
    const object = `task ${task.id}`;
    const service = services.get(task.serviceId);
    if (service === undefined) {
      b.problems.push({ object, message: `service ${task.serviceId} is not in the input` });
      continue;
    }
    const name = taskName(task, service.name);
    const serves = taskServes(task);
    for (const att of task.networks) {
      const network = b.network(att.networkId, object);
      if (network === undefined) continue;
      const { v4, v6 } = b.addresses(network, att.addresses, object);
      b.add(network, name, RANK_HOST, 'host', v4, v6);
      if (task.hostname) b.add(network, task.hostname, RANK_HOST, 'host', v4, v6);
      for (const alias of att.aliases) b.add(network, alias, RANK_HOST, 'host', v4, v6);
      b.addReverse(network, [...v4, ...v6], `${name}.${network.name}`);
      if (!serves) continue;
      let perNetwork = serving.get(service.id);
      if (perNetwork === undefined) serving.set(service.id, (perNetwork = new Map()));
      let acc = perNetwork.get(network.id);
      if (acc === undefined) perNetwork.set(network.id, (acc = { v4: [], v6: [] }));
      acc.v4.push(...v4);
      acc.v6.push(...v6);
    }
  }

  for (const service of input.services) {
    const object = `service ${service.id}`;
    const dnsrr = service.endpointMode === 'dnsrr';
    const vips = new Map<string, string>();
    for (const vip of service.virtualIps) vips.set(vip.networkId, vip.addr);
    for (const att of service.networks) {
      const network = b.network(att.target, object);
      if (network === undefined) continue;
      const tasks = serving.get(service.id)?.get(network.id) ?? { v4: [], v6: [] };
      b.add(network, `tasks.${service.name}`, RANK_SERVICE, 'tasks', tasks.v4, tasks.v6);
      let answer: { kind: RecordKind; v4: string[]; v6: string[] };
      if (dnsrr) answer = { kind: 'tasks', ...tasks };
      else {
        const vip = vips.get(network.id);
        // A VIP not allocated yet: the name is left out (Docker's behaviour), tasks.<service> still answers.
        if (vip === undefined) continue;
        answer = { kind: 'vip', ...b.addresses(network, [vip], object) };
        b.addReverse(network, [...answer.v4, ...answer.v6], service.name);
      }
      b.add(network, service.name, RANK_SERVICE, answer.kind, answer.v4, answer.v6);
      for (const alias of att.aliases) {
        b.add(network, alias, RANK_ALIAS, answer.kind, answer.v4, answer.v6);
        b.add(network, `tasks.${alias}`, RANK_ALIAS, 'tasks', tasks.v4, tasks.v6);
      }
    }
  }

  for (const c of input.containers) {
    const object = `container ${c.id}`;
    for (const att of c.networks) {
      const network = b.network(att.networkId, object);
      if (network === undefined) continue;
      const { v4, v6 } = b.addresses(network, att.addresses, object);
      b.add(network, c.name, RANK_HOST, 'host', v4, v6);
      if (c.hostname) b.add(network, c.hostname, RANK_HOST, 'host', v4, v6);
      for (const alias of att.aliases) b.add(network, alias, RANK_HOST, 'host', v4, v6);
      b.addReverse(network, [...v4, ...v6], `${c.name}.${network.name}`);
    }
  }

  const byNetwork = new Map<string, NetworkRecords>();
  for (const network of networks.values()) {
    if (network.ingress) continue;
    const names = new Map<string, Stored>();
    for (const [name, e] of b.entries.get(network.id)!) {
      names.set(name, { rank: e.rank, set: Object.freeze({ kind: e.kind, v4: sortedUnique(e.v4), v6: sortedUnique(e.v6) }) });
    }
    const reverse = new Map<string, readonly string[]>();
    for (const [a, list] of b.reverse.get(network.id)!) reverse.set(a, sortedUnique(list));
    byNetwork.set(network.id, { network, names, reverse, suffix: `.${network.name.toLowerCase()}` });
  }
  return new MapRecordIndex(byNetwork, networks, Object.freeze(b.problems));
}

/** Sorted without duplicates, frozen; sorts in place. */
function sortedUnique(items: string[]): readonly string[] {
  if (items.length > 1) {
    items.sort();
    let w = 1;
    for (let r = 1; r < items.length; r++) if (items[r] !== items[w - 1]) items[w++] = items[r]!;
    items.length = w;
  }
  return Object.freeze(items);
}

class MapRecordIndex implements RecordIndex {
  constructor(
    private readonly byNetwork: Map<string, NetworkRecords>,
    private readonly networks: Map<string, RecordNetwork>,
    readonly problems: readonly RecordProblem[],
  ) {}

  lookup(name: string, networkIds: readonly string[]): RecordSet | undefined {
    const key = normalizeName(name);
    let found: Stored | undefined;
    let merged: { kind: RecordKind; v4: string[]; v6: string[] } | undefined;
    const consider = (hit: Stored | undefined): void => {
      if (hit === undefined || hit === found) return;
      if (found === undefined || hit.rank < found.rank) {
        found = hit;
        merged = undefined;
      } else if (hit.rank === found.rank) {
        // The same name on two of the sandbox's networks (rare): a union, built only then.
        merged ??= { kind: found.set.kind, v4: [...found.set.v4], v6: [...found.set.v6] };
        merged.v4.push(...hit.set.v4);
        merged.v6.push(...hit.set.v6);
      }
    };
    for (const id of networkIds) {
      const records = this.byNetwork.get(id);
      if (records === undefined) continue;
      consider(records.names.get(key));
      // `<name>.<network>`: <name> in that network only.
      if (key.length > records.suffix.length && key.endsWith(records.suffix)) {
        consider(records.names.get(key.slice(0, key.length - records.suffix.length)));
      }
    }
    if (found === undefined) return undefined;
    if (merged === undefined) return found.set;
    return { kind: merged.kind, v4: sortedUnique(merged.v4), v6: sortedUnique(merged.v6) };
  }

  reverse(address: string, networkIds: readonly string[]): readonly string[] {
    const a = canonicalAddress(address);
    if (a === undefined) return [];
    let out: readonly string[] = [];
    for (const id of networkIds) {
      const names = this.byNetwork.get(id)?.reverse.get(a.address);
      if (names === undefined) continue;
      out = out.length === 0 ? names : sortedUnique([...out, ...names]);
    }
    return out;
  }

  owns(name: string, networkIds: readonly string[]): boolean {
    const key = normalizeName(name);
    let any = false;
    for (const id of networkIds) {
      const records = this.byNetwork.get(id);
      if (records === undefined) continue;
      any = true;
      if (key.endsWith(records.suffix) && key.length > records.suffix.length) return true;
    }
    return any && key.startsWith('tasks.') && key.length > 'tasks.'.length;
  }

  networkOf(networkId: string): RecordNetwork | undefined {
    return this.networks.get(networkId);
  }
}

// ------------------------------------------------------------------------------ reverse names

/** `5.1.0.10.in-addr.arpa` for 10.0.1.5, the 32-nibble ip6.arpa name for an IPv6 address; undefined if not an address. */
export function reverseNameOf(address: string): string | undefined {
  const a = canonicalAddress(address);
  if (a === undefined) return undefined;
  if (a.family === 4) return `${a.address.split('.').reverse().join('.')}.in-addr.arpa`;
  parseV6(a.address, scratchWords);
  const nibbles: string[] = [];
  for (let i = 7; i >= 0; i--) {
    const w = scratchWords[i]!;
    for (let k = 0; k < 4; k++) nibbles.push(((w >>> (4 * k)) & 15).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}

/**
 * The address a reverse name stands for (canonical text), or undefined when the name is not
 * a complete in-addr.arpa (4 labels) or ip6.arpa (32 nibbles) name.
 */
export function addressOfReverseName(name: string): string | undefined {
  const key = normalizeName(name);
  if (key.endsWith('.in-addr.arpa')) {
    const labels = key.slice(0, -'.in-addr.arpa'.length).split('.');
    if (labels.length !== 4) return undefined;
    const v4 = parseV4(labels.reverse().join('.'));
    return v4 < 0 ? undefined : formatV4(v4);
  }
  if (key.endsWith('.ip6.arpa')) {
    const labels = key.slice(0, -'.ip6.arpa'.length).split('.');
    if (labels.length !== 32) return undefined;
    const words = new Uint16Array(8);
    for (let i = 0; i < 32; i++) {
      const label = labels[31 - i]!;
      if (!/^[0-9a-f]$/.test(label)) return undefined;
      words[i >>> 2] = (words[i >>> 2]! << 4) | Number.parseInt(label, 16);
    }
    return formatV6(words);
  }
  return undefined;
}
