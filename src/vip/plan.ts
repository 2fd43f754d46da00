/**
 * The east-west load balancer's planner: services, their VIPs, ports and backends -> one
 * nftables table (family ip). Pure: no I/O.
 *
 * The table, for model table name T (README.md has the packet flow and the measurements
 * behind this shape):
 *
 *   chain output      nat, hook output, priority -100      (packets the sandbox sends)
 *   chain prerouting  nat, hook prerouting, priority -100  (packets routed through it)
 *     ct state new ip daddr . meta l4proto . th dport vmap @services
 *     ct state new ip daddr . meta l4proto vmap @services-any
 *     meta l4proto { tcp, udp } ip daddr @vips goto refuse
 *   chain refuse      reject with tcp reset; reject  (ICMP port unreachable for the rest)
 *   chain pick-tcp-N  dnat ip to ip daddr . tcp dport . numgen random mod N map @backends-tcp
 *   chain pick-udp-N  the same for udp, over @backends-udp
 *   chain pickany-N   dnat to ip daddr . numgen random mod N map @backends-any
 *   map services      VIP . proto . port : goto pick-PROTO-N (N healthy backends) | goto refuse
 *   map services-any  VIP . proto : goto pickany-N | goto refuse   (every-port entries)
 *   map backends-tcp  VIP . port . index : backend . targetPort   (index 0..N-1)
 *   map backends-udp  the same for udp
 *   map backends-any  VIP . index : backend   (address only: the destination port is kept)
 *   set vips          every VIP: a port no service publishes is refused, not blackholed
 *
 * Nat chains see the first packet of a connection only, so each new connection picks one
 * of the N healthy backends at random (numgen: uniform, exact for any N) and conntrack
 * keeps it there. A pick chain exists for each (protocol, N) in use, never one per service:
 * 10,000 services with 10 backends each are one pick chain and 110,000 map elements, and a
 * change of backends is a change of elements (plus, when a count appears or disappears, one
 * small chain). Backends are indexed in address order, so the table is a function of the
 * model alone: an incremental update and a full plan end in the same table.
 *
 * Every-port entries (VipPort port 0, Docker's VIP: VIP:any-port -> backend:same-port) are
 * looked up after the explicit ports, so an explicit port of the same VIP wins for its
 * port. Their DNAT rewrites the address only, which needs no protocol: one pickany-N chain
 * per backend count serves TCP and UDP, and backends-any holds each service's backends once.
 *
 * nft 1.0.6 facts this layout depends on (checked on this machine):
 * - a map whose `typeof` key holds `th dport` cannot be used by a rule added in a later
 *   transaction ("conflicting protocols specified: ip vs. th"), and a `tcp dport` key adds a
 *   `meta l4proto tcp` dependency to the lookup: hence one backends map per protocol, keyed
 *   by `tcp dport`/`udp dport`, and pick chains per protocol;
 * - `type` cannot name numgen's integer type: the backends maps use `typeof`
 *   (`typeof ip daddr . numgen random mod 1 : ip daddr` for backends-any, usable by rules of
 *   later transactions);
 * - an address-only `dnat ip to ... map` is printed back as `dnat to ...` (its JSON has no
 *   family): the pickany rule is written that way so that plan and dump compare;
 * - `reject` is accepted in a nat chain reached from output and prerouting, and
 *   `reject with tcp reset` adds its own `meta l4proto tcp` (printed without it);
 * - the priority keyword dstnat is refused on output: -100;
 * - connection tracking runs in a namespace only while some rule needs it (a `ct`
 *   expression, a nat statement): nat base chains alone do not hold it, so without the
 *   `ct state new` of the vmap rule a table whose services all lack backends would refuse
 *   nothing (its chains are never run).
 *
 * Services may share a VIP (the routing mesh's ingress table gives every published service
 * the sandbox's own address, each with its own published ports): what they claim on it is
 * settled claim by claim (claimOf), by id, so every plan of one model is the same. An
 * explicit port is one claim per (VIP, protocol, port); the every-port entries of a VIP are
 * one claim per VIP, whatever their protocols, because backends-any is keyed by VIP . index
 * and two services' backends would collide there. The smallest id claiming a claim holds it;
 * another service claiming it loses that claim only (SHOAL_ERR_VIP_CONFLICT naming the port,
 * or its every-port entries) and keeps the rest. The `vips` set holds a VIP once while any
 * service claims it. (nft 1.0.6 also takes backends-any keyed `ip daddr . meta l4proto .
 * numgen`, in later transactions too; not used: it would list the backends of a service
 * with TCP and UDP every-port entries, every sandbox's service, twice, for a sharing of
 * every-port VIPs no model has.) Within a service, a port listed twice goes to the first in
 * (protocol, port, targetPort) order.
 */
import { formatV4, parseV4 } from '../common/ip.ts';
import { type VipErrorCode, vipError } from './errors.ts';
import type { VipBackend, VipModel, VipPort, VipService } from './model.ts';
import { emptyDelta, type NftTableState, type StateChain, type StateSet, type TableDelta } from './table-state.ts';

export const VIP_FAMILY = 'ip';
export const CHAIN_OUTPUT = 'output';
export const CHAIN_PREROUTING = 'prerouting';
export const CHAIN_REFUSE = 'refuse';
export const MAP_SERVICES = 'services';
/** Every-port entries: VIP . proto -> verdict. */
export const MAP_SERVICES_ANY = 'services-any';
/** Every-port backends: VIP . index -> backend address. */
export const MAP_BACKENDS_ANY = 'backends-any';
export const SET_VIPS = 'vips';
/** VipPort.port (and targetPort) of an every-port entry. */
export const EVERY_PORT = 0;
export const VIP_PROTOCOLS = ['tcp', 'udp'] as const;
export type VipProtocol = (typeof VIP_PROTOCOLS)[number];

/** The backends map of a protocol. */
export function backendsMapName(protocol: VipProtocol): string {
  return `backends-${protocol}`;
}

/** The chain that picks one of `count` backends of a protocol. */
export function pickChainName(protocol: VipProtocol, count: number): string {
  return `pick-${protocol}-${count}`;
}

/** The chain that picks one of `count` backends for every-port entries (any protocol). */
export function pickAnyChainName(count: number): string {
  return `pickany-${count}`;
}

const PICK_CHAIN_RE = /^pick-(tcp|udp)-([1-9][0-9]*)$/;
const PICK_ANY_CHAIN_RE = /^pickany-([1-9][0-9]*)$/;

/** Same rule as the kernel layer's validateNftName (a planner may not import nft.ts). */
const TABLE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

export function isValidTableName(name: unknown): name is string {
  return typeof name === 'string' && TABLE_NAME_RE.test(name);
}

export interface VipProblem {
  code: VipErrorCode;
  /** The service's id ('' when it has none). */
  service: string;
  message: string;
}

/** One port of a planned service: its active backends (healthy, not draining) in address order. */
export interface PlannedPort {
  protocol: VipProtocol;
  /** EVERY_PORT (0): every port of the protocol, the destination port kept. */
  port: number;
  /** EVERY_PORT (0) with port 0. */
  targetPort: number;
  backends: string[];
  /** The backends whose established connections stay (healthy, draining or not), in address order. */
  kept: string[];
}

/** One service, validated and normalised. */
export interface ServicePlan {
  id: string;
  /** Canonical VIP; undefined when the service cannot be programmed at all. */
  vip: string | undefined;
  /** Ports in (protocol, port) order. */
  ports: PlannedPort[];
  /**
   * The backends whose established connections stay (healthy ones, draining or not), as
   * `PROTO IP TARGETPORT` per explicit port and `PROTO IP * VIP` per every-port entry
   * (anyPortKey), sorted, unique, over every port of the service (the planner keeps those
   * of the ports the service holds: a port another service holds is not this one's). Made
   * when first read: the planner never reads it, and 10,000 services x 10 backends would
   * build 100,000 strings for nothing.
   */
  keep: string[];
  problems: VipProblem[];
}

/** `tcp 10.0.1.5 8080`: a backend port as conntrack cleanup sees it. */
export function backendKey(protocol: string, ip: string, port: number | string): string {
  return `${protocol} ${ip} ${port}`;
}

/** `tcp 10.0.1.5 * 10.0.0.2`: every port of a backend, reached through a VIP (conntrack cleanup's key). */
export function anyPortKey(protocol: string, ip: string, vip: string): string {
  return `${protocol} ${ip} * ${vip}`;
}

/** A backendKey or anyPortKey taken apart (`port` 0 and `vip` set for the latter); undefined if neither. */
export function parseBackendKey(key: string): { protocol: VipProtocol; ip: string; port: number; vip?: string } | undefined {
  const parts = key.split(' ');
  const protocol = parts[0];
  if ((protocol !== 'tcp' && protocol !== 'udp') || !parts[1]) return undefined;
  if (parts.length === 4 && parts[2] === '*' && parts[3]) return { protocol, ip: parts[1], port: EVERY_PORT, vip: parts[3] };
  if (parts.length !== 3 || !validPort(Number(parts[2]))) return undefined;
  return { protocol, ip: parts[1], port: Number(parts[2]) };
}

/** An address a VIP or backend can be: IPv4, not 0/8, 127/8, multicast, reserved or broadcast. */
function unicastV4(text: unknown): number {
  if (typeof text !== 'string') return -1;
  const v = parseV4(text);
  if (v < 0) return -1;
  const first = v >>> 24;
  return first === 0 || first === 127 || first >= 224 ? -1 : v;
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}

/** Plans one service on its own (conflicts between services are settled by VipPlanner). */
export function planService(svc: VipService): ServicePlan {
  const id = typeof svc?.id === 'string' ? svc.id : '';
  const problems: VipProblem[] = [];
  const problem = (code: VipErrorCode, message: string): void => {
    problems.push({ code, service: id, message });
  };
  const out: ServicePlan = { id, vip: undefined, ports: [], keep: [], problems };
  if (id === '') {
    problem('SHOAL_ERR_VIP_BAD_MODEL', 'a service without an id is left out');
    return out;
  }
  const vipValue = unicastV4(svc.vip);
  if (vipValue < 0) {
    problem(
      'SHOAL_ERR_VIP_BAD_MODEL',
      `service ${id}: VIP ${JSON.stringify(svc.vip)} is not a unicast IPv4 address; the service is left out`,
    );
    return out;
  }
  out.vip = formatV4(vipValue);

  // Backends: valid addresses in address order, duplicates merged (active only if every copy is).
  const list: Array<{ v: number; ip: string; healthy: boolean; draining: boolean }> = [];
  for (const b of Array.isArray(svc.backends) ? (svc.backends as VipBackend[]) : []) {
    const v = unicastV4(b?.ip);
    if (v < 0) {
      problem('SHOAL_ERR_VIP_BAD_MODEL', `service ${id}: backend ${JSON.stringify(b?.ip)} is not a unicast IPv4 address; it is left out`);
      continue;
    }
    list.push({ v, ip: formatV4(v), healthy: b.healthy === true, draining: b.draining === true });
  }
  list.sort((a, b) => a.v - b.v);
  const active: string[] = [];
  const kept: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const b = list[i]!;
    let healthy = b.healthy;
    let draining = b.draining;
    while (i + 1 < list.length && list[i + 1]!.v === b.v) {
      const c = list[++i]!;
      healthy &&= c.healthy;
      draining ||= c.draining;
      problem('SHOAL_ERR_VIP_BAD_MODEL', `service ${id}: backend ${b.ip} is listed twice; it is active only if every copy is`);
    }
    if (healthy) kept.push(b.ip);
    if (healthy && !draining) active.push(b.ip);
  }

  // Ports: valid, in (protocol, port, targetPort) order (an every-port entry first), the
  // first of a (protocol, port) kept.
  const ports: VipPort[] = [];
  for (const p of Array.isArray(svc.ports) ? (svc.ports as VipPort[]) : []) {
    const every = p?.port === EVERY_PORT && p.targetPort === EVERY_PORT;
    if ((p?.protocol !== 'tcp' && p?.protocol !== 'udp') || (!every && (!validPort(p.port) || !validPort(p.targetPort)))) {
      problem(
        'SHOAL_ERR_VIP_BAD_MODEL',
        `service ${id}: port ${JSON.stringify(p)} needs protocol tcp or udp and ports 1-65535 (or port and targetPort 0: every port); it is left out`,
      );
      continue;
    }
    ports.push(p);
  }
  ports.sort((a, b) => (a.protocol !== b.protocol ? (a.protocol < b.protocol ? -1 : 1) : a.port - b.port || a.targetPort - b.targetPort));
  for (const p of ports) {
    const last = out.ports[out.ports.length - 1];
    if (last && last.protocol === p.protocol && last.port === p.port) {
      problem(
        'SHOAL_ERR_VIP_CONFLICT',
        p.port === EVERY_PORT
          ? `service ${id}: every ${p.protocol} port is published twice; the copy is left out`
          : `service ${id}: ${p.protocol} port ${p.port} is published twice (target ${last.targetPort} and ${p.targetPort}); target ${p.targetPort} is left out`,
      );
      continue;
    }
    out.ports.push({ protocol: p.protocol, port: p.port, targetPort: p.targetPort, backends: active, kept });
  }
  // Made when first read (see ServicePlan.keep), then a plain property.
  Object.defineProperty(out, 'keep', {
    configurable: true,
    enumerable: true,
    get(): string[] {
      const keep = new Set<string>();
      const vip = out.vip!;
      claimKeep(vip, out.ports, (k) => keep.add(k));
      const value = [...keep].sort();
      Object.defineProperty(out, 'keep', { value, enumerable: true, writable: true });
      return value;
    },
  });
  return out;
}

/** Problems in (service, message) order. */
export function sortProblems(list: VipProblem[]): VipProblem[] {
  return list.sort((a, b) =>
    a.service < b.service ? -1 : a.service > b.service ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0,
  );
}

/** One element a service contributes: set name, key text, data text ('' in a set). */
export interface ElementRow {
  set: string;
  key: string;
  data: string;
}

/**
 * What a service claims on its VIP, and what two services sharing a VIP settle by id: an
 * explicit port is `VIP PROTO PORT`, the every-port entries (both protocols together) are
 * `VIP *`. The elements of two claims never share a key: services and backends-PROTO are
 * keyed by VIP . (proto .) port, services-any by VIP . proto and backends-any by VIP . index,
 * which is why every-port entries are one claim per VIP (backends-any has no protocol).
 */
export function claimOf(vip: string, p: PlannedPort): string {
  return p.port === EVERY_PORT ? `${vip} *` : `${vip} ${p.protocol} ${p.port}`;
}

/** The claims of a planned service, in port order, each once. */
export function claimsOf(plan: ServicePlan | undefined): string[] {
  const out: string[] = [];
  if (!plan?.vip) return out;
  for (const p of plan.ports) {
    const c = claimOf(plan.vip, p);
    if (p.port !== EVERY_PORT || !out.includes(c)) out.push(c);
  }
  return out;
}

type RowFn = (set: string, key: string, data: string) => void;

/** The elements of one port; `withAnyBackends`: an every-port entry lists the backends (once per VIP). */
function emitPort(vip: string, p: PlannedPort, withAnyBackends: boolean, fn: RowFn): void {
  const n = p.backends.length;
  if (p.port === EVERY_PORT) {
    fn(MAP_SERVICES_ANY, `${vip} . ${p.protocol}`, n > 0 ? `goto ${pickAnyChainName(n)}` : `goto ${CHAIN_REFUSE}`);
    // The ports of a service share its backends: TCP and UDP every-port entries, one list.
    if (withAnyBackends) for (let i = 0; i < n; i++) fn(MAP_BACKENDS_ANY, `${vip} . ${i}`, p.backends[i]!);
    return;
  }
  fn(MAP_SERVICES, `${vip} . ${p.protocol} . ${p.port}`, n > 0 ? `goto ${pickChainName(p.protocol, n)}` : `goto ${CHAIN_REFUSE}`);
  const map = backendsMapName(p.protocol);
  const tail = ` . ${p.targetPort}`;
  for (let i = 0; i < n; i++) fn(map, `${vip} . ${p.port} . ${i}`, p.backends[i] + tail);
}

/** The ports of a planned service that make one of its claims (none when it does not claim it). */
function claimPorts(plan: ServicePlan | undefined, claim: string): PlannedPort[] {
  if (!plan?.vip) return [];
  const ports = plan.ports;
  if (claim.endsWith(' *')) return ports.filter((p) => p.port === EVERY_PORT);
  // The common case, a service with one port: no split, no filter.
  if (ports.length === 1) return claimOf(plan.vip, ports[0]!) === claim ? ports : [];
  const [, protocol, port] = claim.split(' ');
  const n = Number(port);
  return ports.filter((p) => p.port === n && p.protocol === protocol);
}

/** The elements of one claim's ports (the vips set aside: a VIP is shared). */
function emitClaim(vip: string, ports: readonly PlannedPort[], fn: RowFn): void {
  for (let i = 0; i < ports.length; i++) emitPort(vip, ports[i]!, i === 0, fn);
}

/** The conntrack keys one claim's ports keep (see ServicePlan.keep). */
function claimKeep(vip: string, ports: readonly PlannedPort[], fn: (key: string) => void): void {
  for (const p of ports) {
    for (const ip of p.kept) fn(p.port === EVERY_PORT ? anyPortKey(p.protocol, ip, vip) : backendKey(p.protocol, ip, p.targetPort));
  }
}

/** Calls `fn` for each element a planned service puts in the table when it holds every port it claims (no objects made). */
export function emitRows(plan: ServicePlan | undefined, fn: RowFn): void {
  if (!plan?.vip) return;
  fn(SET_VIPS, plan.vip, '');
  for (const claim of claimsOf(plan)) emitClaim(plan.vip, claimPorts(plan, claim), fn);
}

/** The elements a planned service puts in the table. */
export function serviceRows(plan: ServicePlan | undefined): ElementRow[] {
  const rows: ElementRow[] = [];
  emitRows(plan, (set, key, data) => rows.push({ set, key, data }));
  return rows;
}

function push<T>(m: Map<string, T[]>, key: string, item: T): void {
  const list = m.get(key);
  if (list) list.push(item);
  else m.set(key, [item]);
}

// ---------------------------------------------------------------------------------------
// The table's fixed part

// `ct state new` is what keeps connection tracking on in the namespace: nat chains run only
// on conntrack's first packet of a connection, and a table whose only conntrack user is a
// `dnat` in a pick chain loses tracking when the last pick chain goes (every service without
// a backend): then nothing is refused, packets to a VIP just leave un-NATed (seen on 6.18).
const VMAP_RULE = `ct state new ip daddr . meta l4proto . th dport vmap @${MAP_SERVICES}`;
// After the explicit ports (which win for their port), before the catch-all. Always there,
// with or without an every-port service, so that one appearing is an element change.
const VMAP_ANY_RULE = `ct state new ip daddr . meta l4proto vmap @${MAP_SERVICES_ANY}`;
const CATCH_ALL_RULE = `meta l4proto { tcp, udp } ip daddr @${SET_VIPS} goto ${CHAIN_REFUSE}`;

function baseChain(t: string, name: string, hook: 'output' | 'prerouting'): StateChain {
  return {
    name,
    line: `chain ${t} ${name} type nat hook ${hook} prio -100 policy accept`,
    decl: `{ type nat hook ${hook} priority -100; policy accept; }`,
    rules: [VMAP_RULE, VMAP_ANY_RULE, CATCH_ALL_RULE],
  };
}

/** The chain that picks one of `count` backends: pick-PROTO-COUNT. */
export function pickChain(tableName: string, protocol: VipProtocol, count: number): StateChain {
  const name = pickChainName(protocol, count);
  return {
    name,
    line: `chain ${VIP_FAMILY} ${tableName} ${name}`,
    decl: '',
    rules: [`dnat ip to ip daddr . ${protocol} dport . numgen random mod ${count} map @${backendsMapName(protocol)}`],
  };
}

/** The chain that picks one of `count` backends for every-port entries: pickany-COUNT. */
export function pickAnyChain(tableName: string, count: number): StateChain {
  const name = pickAnyChainName(count);
  return {
    name,
    line: `chain ${VIP_FAMILY} ${tableName} ${name}`,
    decl: '',
    // Address only: the destination port stays. nft prints this without the family.
    rules: [`dnat to ip daddr . numgen random mod ${count} map @${MAP_BACKENDS_ANY}`],
  };
}

/** The table with no service: base chains, the refuse chain, empty maps and set. */
export function emptyVipState(tableName: string): NftTableState {
  const t = `${VIP_FAMILY} ${tableName}`;
  const chains = new Map<string, StateChain>();
  chains.set(CHAIN_OUTPUT, baseChain(t, CHAIN_OUTPUT, 'output'));
  chains.set(CHAIN_PREROUTING, baseChain(t, CHAIN_PREROUTING, 'prerouting'));
  chains.set(CHAIN_REFUSE, {
    name: CHAIN_REFUSE,
    line: `chain ${t} ${CHAIN_REFUSE}`,
    decl: '',
    rules: ['reject with tcp reset', 'reject'],
  });
  const sets = new Map<string, StateSet>();
  const add = (s: Omit<StateSet, 'elements'>): void => {
    sets.set(s.name, { ...s, elements: new Map() });
  };
  add({
    kind: 'map',
    name: MAP_SERVICES,
    head: `map ${t} ${MAP_SERVICES} type ipv4_addr . inet_proto . inet_service : verdict`,
    decl: '{ type ipv4_addr . inet_proto . inet_service : verdict; }',
  });
  for (const p of VIP_PROTOCOLS) {
    add({
      kind: 'map',
      name: backendsMapName(p),
      head: `map ${t} ${backendsMapName(p)} type ipv4_addr . inet_service . integer : ipv4_addr . inet_service`,
      // mod 1 is only the key's type: each pick chain uses its own modulus.
      decl: `{ typeof ip daddr . ${p} dport . numgen random mod 1 : ip daddr . ${p} dport; }`,
    });
  }
  add({
    kind: 'map',
    name: MAP_SERVICES_ANY,
    head: `map ${t} ${MAP_SERVICES_ANY} type ipv4_addr . inet_proto : verdict`,
    decl: '{ type ipv4_addr . inet_proto : verdict; }',
  });
  add({
    kind: 'map',
    name: MAP_BACKENDS_ANY,
    head: `map ${t} ${MAP_BACKENDS_ANY} type ipv4_addr . integer : ipv4_addr`,
    decl: '{ typeof ip daddr . numgen random mod 1 : ip daddr; }',
  });
  add({ kind: 'set', name: SET_VIPS, head: `set ${t} ${SET_VIPS} type ipv4_addr`, decl: '{ type ipv4_addr; }' });
  return { family: VIP_FAMILY, name: tableName, chains, sets };
}

/** The `(protocol, count)` of a pick chain's name, or undefined for any other chain (pickany-N included). */
export function parsePickChain(name: string): { protocol: VipProtocol; count: number } | undefined {
  const m = PICK_CHAIN_RE.exec(name);
  return m ? { protocol: m[1] as VipProtocol, count: Number(m[2]) } : undefined;
}

/** The count of a pickany chain's name, or undefined for any other chain. */
export function parsePickAnyChain(name: string): number | undefined {
  const m = PICK_ANY_CHAIN_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The pick chain (pick-PROTO-N or pickany-N) of that name, or undefined if it is not one. */
function pickChainNamed(tableName: string, name: string): StateChain | undefined {
  const pick = parsePickChain(name);
  if (pick) return pickChain(tableName, pick.protocol, pick.count);
  const count = parsePickAnyChain(name);
  return count === undefined ? undefined : pickAnyChain(tableName, count);
}

// ---------------------------------------------------------------------------------------
// The planner

/** What one VipPlanner.update() changed. */
export interface PlannerDelta extends TableDelta {
  /** Backend ports (`PROTO IP PORT`, `PROTO IP * VIP`) no programmed service keeps or protects any more. */
  keepRemoved: string[];
  /** UDP service ports that had no backend (or did not exist) and now have one; port 0 (EVERY_PORT) for an every-port entry. */
  udpOpened: Array<{ vip: string; port: number }>;
}

function insertSorted(list: string[], id: string): void {
  let i = 0;
  while (i < list.length && list[i]! < id) i++;
  if (list[i] !== id) list.splice(i, 0, id);
}

/** The SHOAL_ERR_VIP_CONFLICT text of a claim `loser` lost to `owner`. */
function conflictMessage(claim: string, loser: ServicePlan, owner: string): string {
  const [vip, protocol, port] = claim.split(' ') as [string, string, string | undefined];
  if (protocol !== '*') {
    return `service ${loser.id}: ${protocol} port ${port} of VIP ${vip} is also claimed by service ${owner}, which keeps it; ${loser.id} loses that port only`;
  }
  const lost = loser.ports.filter((p) => p.port === EVERY_PORT).map((p) => `every ${p.protocol} port`);
  return `service ${loser.id}: the every-port entries of VIP ${vip} belong to one service, and service ${owner} has some, so ${loser.id} loses ${lost.join(' and ')}`;
}

/**
 * The desired table, kept up to date service by service. update() re-plans the services it
 * is given, settles again the claims they touch (each explicit port of a VIP, and its
 * every-port entries as one claim: the smallest id claiming it holds it), and returns the
 * element-level change; state() is then the desired table. Feeding it a whole model at once
 * (planVip) and feeding it the same model change by change end in the same state.
 */
export class VipPlanner {
  readonly tableName: string;
  readonly #services = new Map<string, ServicePlan>();
  /** Claim (claimOf) -> the ids of the services that claim it, sorted; the first one holds it. */
  readonly #claims = new Map<string, string[]>();
  /** Claim -> the plan programmed for it. */
  readonly #held = new Map<string, ServicePlan>();
  /** Service id -> how many claims it holds. */
  readonly #heldBy = new Map<string, number>();
  /** VIP -> how many services claim it (its `vips` element is there while any does). */
  readonly #vipRefs = new Map<string, number>();
  readonly #chainRefs = new Map<string, number>();
  readonly #keepRefs = new Map<string, number>();
  /** The keys of #keepRefs, as a set callers may read. */
  readonly #kept = new Set<string>();
  /** `PROTO IP` -> how many kept keys name it: explicit ones (backendKey) and every-port ones (anyPortKey). */
  readonly #keptBackends = new Map<string, { explicit: number; any: number }>();
  /** Ids of services with problems of their own, and claims made by more than one service. */
  readonly #withProblems = new Set<string>();
  readonly #contested = new Set<string>();
  readonly #state: NftTableState;

  constructor(tableName: string) {
    if (!isValidTableName(tableName)) {
      throw vipError(
        'SHOAL_ERR_VIP_BAD_MODEL',
        `load-balancer table name ${JSON.stringify(tableName)} must start with a letter or _ and hold only letters, digits, _ . -`,
        { tableName },
      );
    }
    this.tableName = tableName;
    this.#state = emptyVipState(tableName);
  }

  /** The desired table (live: read it, do not change it). */
  state(): NftTableState {
    return this.#state;
  }

  /** Backend ports whose established connections stay, over every port a service holds (live). */
  keep(): ReadonlySet<string> {
    return this.#kept;
  }

  /**
   * Whether deleting the conntrack entries of `key` (a backendKey or anyPortKey) would cut a
   * connection some programmed service keeps: the key is kept, or it overlaps a kept key of
   * the other kind for the same backend and protocol (an explicit port's entries include
   * those an every-port VIP sent to that port; an every-port VIP's include every port of the
   * backend). Only a model that lists one backend in two services (or one service's backend
   * on an explicit port and its every-port entries) has such overlaps; then the entries stay
   * (the backend is still healthy in the other) rather than cutting what the other keeps.
   * Keys of one kind never overlap: `PROTO IP PORT` deletes the entries answered from that
   * backend port alone, whatever VIP or service port led there, so two services that share a
   * VIP and a backend on different target ports never cut each other's connections, and on
   * one target port both keep the same key.
   */
  protects(key: string): boolean {
    if (this.#kept.has(key)) return true;
    const k = parseBackendKey(key);
    if (!k) return false;
    const n = this.#keptBackends.get(`${k.protocol} ${k.ip}`);
    return n !== undefined && (k.vip === undefined ? n.any > 0 : n.explicit > 0);
  }

  #countKept(key: string, by: 1 | -1): void {
    const k = parseBackendKey(key);
    if (!k) return;
    const id = `${k.protocol} ${k.ip}`;
    const n = this.#keptBackends.get(id) ?? { explicit: 0, any: 0 };
    if (k.vip === undefined) n.explicit += by;
    else n.any += by;
    if (n.explicit === 0 && n.any === 0) this.#keptBackends.delete(id);
    else this.#keptBackends.set(id, n);
  }

  #bumpChain(name: string, by: number, touched: Set<string>): void {
    const n = (this.#chainRefs.get(name) ?? 0) + by;
    if (n === 0) this.#chainRefs.delete(name);
    else this.#chainRefs.set(name, n);
    touched.add(name);
  }

  #bumpHeld(id: string, by: 1 | -1): void {
    const n = (this.#heldBy.get(id) ?? 0) + by;
    if (n === 0) this.#heldBy.delete(id);
    else this.#heldBy.set(id, n);
  }

  /** Services known by id (those left out included). */
  get size(): number {
    return this.#services.size;
  }

  /** Services programmed: those holding at least one port of their VIP, or with a VIP and no port (refused). */
  get programmed(): number {
    let n = 0;
    for (const plan of this.#services.values()) {
      if (plan.vip !== undefined && (plan.ports.length === 0 || this.#heldBy.has(plan.id))) n++;
    }
    return n;
  }

  /** The problems of the services known: their own, and ports of a VIP claimed by more than one. */
  problems(): VipProblem[] {
    const out: VipProblem[] = [];
    for (const id of this.#withProblems) out.push(...this.#services.get(id)!.problems);
    for (const claim of this.#contested) {
      const ids = this.#claims.get(claim)!;
      for (const id of ids.slice(1)) {
        out.push({ code: 'SHOAL_ERR_VIP_CONFLICT', service: id, message: conflictMessage(claim, this.#services.get(id)!, ids[0]!) });
      }
    }
    return sortProblems(out);
  }

  /** Replaces the services `upserts` (by id) and forgets the ids `removals`. */
  update(upserts: readonly VipService[], removals: readonly string[]): PlannerDelta {
    const affected = new Set<string>();
    const vipsTouched = new Set<string>();
    const unclaim = (plan: ServicePlan | undefined): void => {
      if (!plan?.vip) return;
      const refs = this.#vipRefs.get(plan.vip)! - 1;
      if (refs === 0) this.#vipRefs.delete(plan.vip);
      else this.#vipRefs.set(plan.vip, refs);
      vipsTouched.add(plan.vip);
      for (const claim of claimsOf(plan)) {
        const ids = this.#claims.get(claim);
        if (ids) {
          const i = ids.indexOf(plan.id);
          if (i >= 0) ids.splice(i, 1);
          if (ids.length === 0) this.#claims.delete(claim);
        }
        affected.add(claim);
      }
    };
    for (const id of removals) {
      unclaim(this.#services.get(id));
      this.#services.delete(id);
      this.#withProblems.delete(id);
    }
    for (const svc of upserts) {
      const plan = planService(svc);
      unclaim(this.#services.get(plan.id));
      this.#services.set(plan.id, plan);
      if (plan.problems.length > 0) this.#withProblems.add(plan.id);
      else this.#withProblems.delete(plan.id);
      if (!plan.vip) continue;
      this.#vipRefs.set(plan.vip, (this.#vipRefs.get(plan.vip) ?? 0) + 1);
      vipsTouched.add(plan.vip);
      for (const claim of claimsOf(plan)) {
        let ids = this.#claims.get(claim);
        if (!ids) {
          ids = [];
          this.#claims.set(claim, ids);
        }
        insertSorted(ids, plan.id);
        affected.add(claim);
      }
    }

    // Element changes are written into the state as they are found (the keys of one claim
    // are no other claim's) and listed for the transaction.
    const delta: PlannerDelta = { ...emptyDelta(), keepRemoved: [], udpOpened: [] };
    const sets = this.#state.sets;
    const dels = delta.deletes;
    const adds = delta.adds;
    const touchedChains = new Set<string>();
    const keepCandidates = new Set<string>();
    const refuse = `goto ${CHAIN_REFUSE}`;
    // A VIP is in `vips` while any service claims it, whichever ports they hold: once.
    const vipElements = sets.get(SET_VIPS)!.elements;
    for (const vip of [...vipsTouched].sort()) {
      const wanted = this.#vipRefs.has(vip);
      if (wanted && !vipElements.has(vip)) push(adds, SET_VIPS, [vip, '']);
      else if (!wanted && vipElements.has(vip)) push(dels, SET_VIPS, vip);
    }
    for (const claim of [...affected].sort()) {
      const ids = this.#claims.get(claim);
      if ((ids?.length ?? 0) > 1) this.#contested.add(claim);
      else this.#contested.delete(claim);
      const next = ids === undefined ? undefined : this.#services.get(ids[0]!);
      const prev = this.#held.get(claim);
      if (prev === next) continue;
      // The old rows, by set and key, only when there are new ones to compare with.
      const old = prev && next ? new Map<string, string>() : undefined;
      const vip = claim.slice(0, claim.indexOf(' '));
      const prevPorts = claimPorts(prev, claim);
      const nextPorts = claimPorts(next, claim);
      emitClaim(vip, prevPorts, (set, key, data) => {
        old?.set(`${set}\0${key}`, data);
        if ((set === MAP_SERVICES || set === MAP_SERVICES_ANY) && data !== refuse) this.#bumpChain(data.slice(5), -1, touchedChains);
      });
      const fresh = next ? new Set<string>() : undefined;
      emitClaim(vip, nextPorts, (set, key, data) => {
        const id = `${set}\0${key}`;
        fresh?.add(id);
        const was = old?.get(id);
        if (was !== data) {
          if (was !== undefined) push(dels, set, key);
          push(adds, set, [key, data]);
        }
        if ((set === MAP_SERVICES || set === MAP_SERVICES_ANY) && data !== refuse) {
          this.#bumpChain(data.slice(5), 1, touchedChains);
          if (was === undefined || was === refuse) {
            if (set === MAP_SERVICES_ANY) {
              if (key.endsWith(' . udp')) delta.udpOpened.push({ vip, port: EVERY_PORT });
            } else if (key.includes(' . udp . ')) {
              delta.udpOpened.push({ vip, port: Number(key.slice(key.lastIndexOf(' ') + 1)) });
            }
          }
        }
      });
      if (old) {
        for (const id of old.keys()) {
          if (fresh!.has(id)) continue;
          const cut = id.indexOf('\0');
          push(dels, id.slice(0, cut), id.slice(cut + 1));
        }
      } else if (prev) {
        emitClaim(vip, prevPorts, (set, key) => push(dels, set, key));
      }
      for (const p of prevPorts) {
        for (const ip of p.kept) {
          const k = p.port === EVERY_PORT ? anyPortKey(p.protocol, ip, vip) : backendKey(p.protocol, ip, p.targetPort);
          const n = this.#keepRefs.get(k)! - 1;
          if (n === 0) {
            this.#keepRefs.delete(k);
            this.#kept.delete(k);
            this.#countKept(k, -1);
            keepCandidates.add(k);
          } else {
            this.#keepRefs.set(k, n);
          }
        }
      }
      for (const p of nextPorts) {
        for (const ip of p.kept) {
          const k = p.port === EVERY_PORT ? anyPortKey(p.protocol, ip, vip) : backendKey(p.protocol, ip, p.targetPort);
          const n = (this.#keepRefs.get(k) ?? 0) + 1;
          this.#keepRefs.set(k, n);
          if (n === 1) {
            this.#kept.add(k);
            this.#countKept(k, 1);
          }
        }
      }
      if (prev?.id !== next?.id) {
        if (prev) this.#bumpHeld(prev.id, -1);
        if (next) this.#bumpHeld(next.id, 1);
      }
      if (next) this.#held.set(claim, next);
      else this.#held.delete(claim);
    }
    for (const [set, keys] of dels) {
      const e = sets.get(set)!.elements;
      for (const k of keys) e.delete(k);
    }
    for (const [set, items] of adds) {
      const e = sets.get(set)!.elements;
      for (const [k, v] of items) e.set(k, v);
    }
    for (const name of [...touchedChains].sort()) {
      const used = this.#chainRefs.has(name);
      const exists = this.#state.chains.has(name);
      if (used && !exists) {
        const chain = pickChainNamed(this.tableName, name)!;
        delta.chainsAdded.push(chain);
        this.#state.chains.set(name, chain);
      } else if (!used && exists) {
        delta.chainsDeleted.push(name);
        this.#state.chains.delete(name);
      }
    }
    for (const k of [...keepCandidates].sort()) if (!this.protects(k)) delta.keepRemoved.push(k);
    return delta;
  }
}

/** The model's services split against what a previous sync was given (by object identity). */
export interface ModelChanges {
  /** id -> the service given now (the first of an id listed twice). */
  current: Map<string, VipService>;
  /** Services that are new or not the same object as before. */
  upserts: VipService[];
  /** Ids given before and not now. */
  removals: string[];
  /** A service listed twice by id: the later copies are left out. */
  duplicates: VipProblem[];
}

/** Compares a model's services with those of the last sync; `previous` undefined = all new. */
export function modelChanges(model: VipModel, previous: ReadonlyMap<string, VipService> | undefined): ModelChanges {
  const current = new Map<string, VipService>();
  const upserts: VipService[] = [];
  const duplicates: VipProblem[] = [];
  for (const svc of model.services) {
    const id = typeof svc?.id === 'string' ? svc.id : '';
    if (current.has(id)) {
      duplicates.push({
        code: 'SHOAL_ERR_VIP_CONFLICT',
        service: id,
        message: `service ${id} is listed twice in the model; the later copy is left out`,
      });
      continue;
    }
    current.set(id, svc);
    if (previous?.get(id) !== svc) upserts.push(svc);
  }
  const removals: string[] = [];
  if (previous) for (const id of previous.keys()) if (!current.has(id)) removals.push(id);
  return { current, upserts, removals, duplicates };
}

/**
 * The services of the last sync by id, for the incremental path: diff() tells what a new
 * list changed without allocating anything for the services that did not (a generation
 * mark per entry; removals are looked for only when fewer ids than before were seen).
 */
export class ServiceIndex {
  readonly #entries = new Map<string, { svc: VipService; gen: number }>();
  #gen = 0;

  get size(): number {
    return this.#entries.size;
  }

  /** Records `services` as the current list and returns how it differs from the one before. */
  diff(services: readonly VipService[]): Omit<ModelChanges, 'current'> {
    const gen = ++this.#gen;
    const before = this.#entries.size;
    const upserts: VipService[] = [];
    const duplicates: VipProblem[] = [];
    let seen = 0;
    for (const svc of services) {
      const id = typeof svc?.id === 'string' ? svc.id : '';
      const e = this.#entries.get(id);
      if (e?.gen === gen) {
        duplicates.push({
          code: 'SHOAL_ERR_VIP_CONFLICT',
          service: id,
          message: `service ${id} is listed twice in the model; the later copy is left out`,
        });
      } else if (!e) {
        this.#entries.set(id, { svc, gen });
        upserts.push(svc);
      } else {
        seen++;
        e.gen = gen;
        if (e.svc !== svc) {
          e.svc = svc;
          upserts.push(svc);
        }
      }
    }
    const removals: string[] = [];
    if (seen < before) {
      for (const [id, e] of this.#entries) {
        if (e.gen !== gen) {
          removals.push(id);
          this.#entries.delete(id);
        }
      }
    }
    return { upserts, removals, duplicates };
  }
}

/** The whole desired table of a model. */
export interface VipPlan {
  tableName: string;
  state: NftTableState;
  /** Backend ports whose established connections stay. */
  keep: ReadonlySet<string>;
  problems: VipProblem[];
}

/**
 * Plans a model from scratch: the table's state (canonicalOfState() gives its canonical
 * text, rewriteScript() the transaction that writes it). Throws SHOAL_ERR_VIP_BAD_MODEL
 * when the table name is not one nft accepts; every other problem leaves its item out and
 * is listed in `problems`.
 */
export function planVip(model: VipModel): VipPlan {
  const planner = new VipPlanner(model.tableName);
  const changes = modelChanges(model, undefined);
  planner.update(changes.upserts, []);
  return {
    tableName: model.tableName,
    state: planner.state(),
    keep: planner.keep(),
    problems: sortProblems([...changes.duplicates, ...planner.problems()]),
  };
}
