/**
 * Networks as `docker network inspect` and `docker network ls` show them.
 *
 * Inspect keeps Docker's field names and order (Name, Id, Created, Scope, Driver,
 * EnableIPv6, IPAM, Internal, Attachable, Ingress, ConfigFrom, ConfigOnly, Containers,
 * Options, Labels, Peers), so scripts written against Docker read shoal's output. The
 * VXLAN ID appears where Docker puts it, in Options
 * `com.docker.network.driver.overlay.vxlanid_list`. `Containers` lists every task and
 * standalone container endpoint in the cluster (the manager knows all of them; Docker shows
 * only the local node's); `--verbose` adds Docker's `Services` map.
 */
import type { Endpoint, Network, NetworkEndpoints, Peer } from '../../api/api-types.ts';
import type { ListLayout, Row } from './list.ts';
import { apiTime, goMap, goTimeString, labelMethod, labelsText, truncId } from './common.ts';
import { asGoMap } from './template.ts';

export const VXLAN_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';

export interface DockerIpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface DockerNetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface DockerServiceInfo {
  VIP: string;
  Ports: string[];
  LocalLBIndex: number;
  Tasks: { Name: string; EndpointID: string; EndpointIP: string; Info: Record<string, string> }[];
}

export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: DockerIpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, DockerNetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  Peers?: { Name: string; IP: string }[];
  Services?: Record<string, DockerServiceInfo>;
}

function ipamConfig(c: Network['ipam'][number]): DockerIpamConfig {
  const out: DockerIpamConfig = { Subnet: c.subnet };
  if (c.ipRange) out.IPRange = c.ipRange;
  if (c.gateway) out.Gateway = c.gateway;
  if (Object.keys(c.auxAddresses ?? {}).length > 0) out.AuxiliaryAddresses = goMap(c.auxAddresses);
  return out;
}

/** Docker's name of a gossip peer: the host name and the node's short ID. */
export function peerName(p: Peer): string {
  return p.hostname === '' ? p.nodeId.slice(0, 12) : `${p.hostname}-${p.nodeId.slice(0, 12)}`;
}

function stripPrefix(addr: string): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}

function servicesOf(endpoints: readonly Endpoint[], peers: readonly Peer[]): Record<string, DockerServiceInfo> {
  const hostIp = new Map(peers.map((p) => [p.nodeId, p.addr]));
  const services = new Map<string, DockerServiceInfo>();
  const entry = (name: string): DockerServiceInfo => {
    let s = services.get(name);
    if (!s) {
      s = { VIP: '', Ports: [], LocalLBIndex: 0, Tasks: [] };
      services.set(name, s);
    }
    return s;
  };
  for (const e of endpoints) {
    if (e.serviceName === '') continue;
    if (e.kind === 'vip') entry(e.serviceName).VIP = stripPrefix(e.addr);
    else if (e.kind === 'task') {
      entry(e.serviceName).Tasks.push({
        Name: e.name,
        EndpointID: e.id,
        EndpointIP: stripPrefix(e.addr),
        Info: asGoMap({ 'Host IP': hostIp.get(e.nodeId) ?? '' }),
      });
    }
  }
  const out: Record<string, DockerServiceInfo> = {};
  for (const name of [...services.keys()].sort()) {
    const s = services.get(name) as DockerServiceInfo;
    s.Tasks.sort((a, b) => a.Name.localeCompare(b.Name));
    out[name] = s;
  }
  return asGoMap(out);
}

/** Docker's inspect object of a network; `endpoints` fills Containers and Peers. */
export function networkInspect(n: Network, endpoints?: NetworkEndpoints, verbose = false): DockerNetwork {
  const options = goMap({ ...n.spec.options, [VXLAN_OPTION]: String(n.vxlanId) });
  const containers: Record<string, DockerNetworkContainer> = asGoMap({});
  for (const e of endpoints?.endpoints ?? []) {
    if (e.kind !== 'task' && e.kind !== 'container') continue;
    containers[e.ownerId] = { Name: e.name, EndpointID: e.id, MacAddress: e.mac, IPv4Address: e.addr, IPv6Address: e.addrV6 };
  }
  const out: DockerNetwork = {
    Name: n.spec.name,
    Id: n.id,
    Created: apiTime(n.createdAt),
    Scope: n.scope === '' ? 'swarm' : n.scope,
    Driver: n.spec.driver === '' ? 'overlay' : n.spec.driver,
    EnableIPv6: n.spec.ipv6,
    IPAM: { Driver: 'default', Options: null, Config: (n.ipam.length > 0 ? n.ipam : n.spec.subnets).map(ipamConfig) },
    Internal: n.spec.internal,
    Attachable: n.spec.attachable,
    Ingress: n.ingress || n.spec.ingress,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: options,
    Labels: goMap(n.spec.labels),
  };
  if (endpoints) out.Peers = endpoints.peers.map((p) => ({ Name: peerName(p), IP: p.addr }));
  if (verbose) out.Services = servicesOf(endpoints?.endpoints ?? [], endpoints?.peers ?? []);
  return out;
}

export const NETWORK_LIST: ListLayout = Object.freeze({
  defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
  headers: Object.freeze({
    ID: 'NETWORK ID',
    Name: 'NAME',
    Driver: 'DRIVER',
    Scope: 'SCOPE',
    IPv6: 'IPV6',
    Internal: 'INTERNAL',
    Labels: 'LABELS',
    CreatedAt: 'CREATED AT',
  }),
});

/** Docker's `network ls` context of one network. */
export function networkRow(n: Network, noTrunc: boolean): Row {
  return {
    ID: truncId(n.id, noTrunc),
    Name: n.spec.name,
    Driver: n.spec.driver === '' ? 'overlay' : n.spec.driver,
    Scope: n.scope === '' ? 'swarm' : n.scope,
    IPv6: String(n.spec.ipv6),
    Internal: String(n.spec.internal),
    Labels: labelsText(n.spec.labels),
    CreatedAt: goTimeString(n.createdAt),
    Label: labelMethod(n.spec.labels) as (...args: unknown[]) => string,
  };
}
