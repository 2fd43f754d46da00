/**
 * Reading what the kernel holds, for the diff: never trusted from memory.
 *
 * The namespace list (/run/netns) is always read whole: it is one readdir. The contents
 * of a namespace are read only for the namespaces asked for (`only`), and only the kinds
 * of object the overlay owns there:
 * - host (''): links, addresses, the egress nftables table, net.ipv4.ip_forward;
 * - overlay (`<prefix>ov-*`): links, addresses, IPv4 neighbours, fdb;
 * - sandbox (`<prefix>sb-*`): links, addresses, IPv4 routes of table main.
 * So an incremental sync after one remote endpoint changed reads one overlay namespace:
 * one link, address, neighbour and fdb dump each.
 *
 * A namespace that cannot be read (it vanished between the list and the read, or the
 * kernel refused) is reported in `errors` and left out of the diff.
 */
import { asShoalError, type ShoalError } from '../common/errors.ts';
import { runLimited } from '../common/concurrency.ts';
import type { Address, FdbEntry, Link, Neighbor, Route } from '../kernel/types.ts';
import { canonicalNftTable } from '../kernel/nft.ts';
import { egressTableName, netnsRole } from './names.ts';
import type { NsRole } from './objects.ts';
import type { OverlayKernel } from './overlay-kernel.ts';

export interface NsActual {
  /** Namespace name; '' = host. */
  name: string;
  role: NsRole;
  links: Link[];
  addresses: Address[];
  routes: Route[];
  neighbors: Neighbor[];
  fdb: FdbEntry[];
  /** Our nftables tables that exist, with their canonical text (host only). */
  nft: Array<{ family: string; name: string; canonical: string }>;
  /** Sysctl name -> value (host only). */
  sysctls: Map<string, string>;
}

export interface OverlayActual {
  prefix: string;
  /** Every namespace of ours that exists (`<prefix>ov-*`, `<prefix>sb-*`); the host is not listed. */
  namespaces: Set<string>;
  /** The namespaces whose contents were read, by name ('' = host). */
  read: Map<string, NsActual>;
  /** Namespaces asked for that could not be read. */
  errors: Array<{ netns: string; error: ShoalError }>;
}

/** Sysctls the overlay sets in the host namespace. */
export const HOST_SYSCTLS = ['net.ipv4.ip_forward'] as const;

/** At most this many namespaces are read at once. */
const READ_CONCURRENCY = 16;

/** What a namespace just created holds: lo, down. */
export function emptyNsActual(name: string, role: NsRole): NsActual {
  return {
    name,
    role,
    links: [{ index: 1, name: 'lo', kind: 'other', mtu: 65536, mac: '00:00:00:00:00:00', up: false }],
    addresses: [],
    routes: [],
    neighbors: [],
    fdb: [],
    nft: [],
    sysctls: new Map(),
  };
}

/** What an incremental sync already knows of the host, so it need not run nft to read it again. */
export interface KnownHostParts {
  /** Our nftables tables as the last successful sync left them. */
  nft: Array<{ family: string; name: string; canonical: string }>;
}

async function readNs(k: OverlayKernel, prefix: string, name: string, role: NsRole, known?: KnownHostParts): Promise<NsActual> {
  const r = await k.rtnl(name);
  const ns = emptyNsActual(name, role);
  ns.links = await r.listLinks();
  ns.addresses = await r.listAddresses();
  if (role === 'overlay') {
    ns.neighbors = await r.listNeighbors({ family: 4 });
    ns.fdb = await r.listFdb();
  } else if (role === 'sandbox') {
    ns.routes = await r.listRoutes({ family: 4 });
  } else {
    if (known) {
      ns.nft = known.nft.map((t) => ({ ...t }));
    } else {
      const table = egressTableName(prefix);
      const dump = await k.nft(name).listTable('ip', table);
      if (dump) ns.nft.push({ family: 'ip', name: table, canonical: canonicalNftTable(dump.json) });
    }
    for (const s of HOST_SYSCTLS) ns.sysctls.set(s, await k.sysctl(name).get(s));
  }
  return ns;
}

/**
 * Reads the namespaces of ours and the contents of those in `only` (every one, and the
 * host, when `only` is omitted). Names in `only` that do not exist are not read.
 * `knownHost` stands in for the host's nftables tables (an incremental sync whose desired
 * tables did not change since its last success: reading them costs an nft process).
 */
export async function readOverlayActual(
  k: OverlayKernel,
  prefix: string,
  only?: Set<string>,
  knownHost?: KnownHostParts,
): Promise<OverlayActual> {
  const namespaces = new Set((await k.netns.list()).filter((n) => netnsRole(prefix, n) !== undefined));
  const actual: OverlayActual = { prefix, namespaces, read: new Map(), errors: [] };
  const wanted: Array<[string, NsRole]> = [];
  if (!only || only.has('')) wanted.push(['', 'host']);
  for (const n of [...namespaces].sort()) if (!only || only.has(n)) wanted.push([n, netnsRole(prefix, n)!]);
  await runLimited(wanted, READ_CONCURRENCY, async ([name, role]) => {
    try {
      actual.read.set(name, await readNs(k, prefix, name, role, role === 'host' ? knownHost : undefined));
    } catch (err) {
      actual.errors.push({ netns: name, error: asShoalError(err) });
    }
  });
  return actual;
}
