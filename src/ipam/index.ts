/**
 * shoal IPAM: address pools, subnets, gateways, VIPs and task addresses, IPv4 and IPv6.
 *
 * A pure library (no I/O, no clock, no randomness) used by the manager. Two objects:
 *
 * - AddressSpace: the cluster. Holds the default pools, every network's subnets (overlap
 *   between any two networks is refused), carves subnets for networks created without
 *   `--subnet`, and creates/removes networks.
 * - NetworkIpam: one network. Hands out and takes back addresses in its subnets.
 *
 * Typical use by the manager:
 *
 *   const space = createAddressSpace({ defaultAddrPools: ['10.0.0.0/8'], defaultAddrPoolMaskLength: 24 });
 *   const ingress = space.createNetwork(ingressNetworkRequest(ingressId));  // 10.255.0.0/16, gw 10.255.0.1
 *   const front = space.createNetwork({ id, name: 'front' });               // 10.0.0.0/24, gw 10.0.0.1
 *   const back = space.createNetwork({ id: id2, name: 'back', ipv6: true,
 *     subnets: subnetRequestsFromFlags({ subnets: ['10.9.0.0/16'], gateways: ['10.9.0.254'] }) });
 *   const vip = front.allocate();                 // '10.0.0.2'
 *   const task = back.allocateEndpoint();         // { ipv4: '10.9.0.1', ipv6: 'fd73:686f:616c::2' }
 *   back.allocateStatic('10.9.3.7');              // --ip
 *   front.release(vip);
 *   front.usage();                                // { ipv4: { size: 256, reserved: 3, used: 0, free: 253, ... } }
 *   space.removeNetwork(id2);                     // its subnets become free
 *
 * Durable form: after any change to a network, store `net.serialize()` (a compact string)
 * in that network's row, in the same store transaction. Wrap both in
 * `space.transaction(fn)` so that a failed store write also undoes the IPAM change. At
 * start-up, `restoreAddressSpace(config, rows)` with every stored network rebuilds the
 * cluster exactly; cluster-level state (which subnets are taken, where the default
 * carving continues) is derived from the networks' forms and the config, never stored.
 *
 * API summary (types.ts has every field documented):
 *
 *   createAddressSpace(config?)                       -> AddressSpace
 *   restoreAddressSpace(config, StoredNetwork[])      -> AddressSpace   (any order)
 *   AddressSpace
 *     createNetwork({ id, name, subnets?, ipv4?, ipv6? }) -> NetworkIpam
 *     removeNetwork(id) -> boolean      get(id) / require(id)      networks()    size
 *     findOverlap(cidr) -> { networkId, networkName, subnet } | undefined
 *     transaction(fn) -> fn's result (all IPAM changes undone if fn throws)
 *     serializeAll() -> StoredNetwork[]
 *   NetworkIpam
 *     id  name  subnets: SubnetInfo[]  live  hasFamily(4|6)  gateway(family?)
 *     allocate(family?) -> address            (VIP, task, load-balancer address)
 *     allocateEndpoint() -> { ipv4, ipv6 }    (one per family the network has)
 *     allocateStatic(address) -> canonical address
 *     release(address) -> boolean             (false: was not held)
 *     status(address) -> 'free' | 'allocated' | 'gateway' | 'aux' | 'network' | ...
 *     subnetOf(address) -> SubnetInfo | undefined
 *     allocatedAddresses()  usage() -> NetworkUsage  serialize() -> string
 *   subnetRequestsFromFlags({ subnets, gateways?, ipRanges?, auxAddresses? }) -> SubnetRequest[]
 *   ingressNetworkRequest(id, name?)  INGRESS_SUBNET  INGRESS_GATEWAY
 *   defaultAddressSpaceConfig()  validateAddressSpaceConfig(input)
 *   canonicalAddress(text)  canonicalCidr(text)
 *
 * Reserved, never handed out: IPv4 network and broadcast addresses, the IPv6
 * subnet-router anycast address (offset 0), gateways, aux addresses.
 *
 * Errors are ShoalErrors with stable SHOAL_ERR_IPAM_* codes (errors.ts, docs/ipam.md).
 */
export type {
  AddressCounts,
  AddressSpace,
  AddressSpaceConfig,
  AddressSpaceConfigInput,
  AddressStatus,
  EndpointAddresses,
  IpFamily,
  NetworkIpam,
  NetworkRequest,
  NetworkUsage,
  OverlapInfo,
  StoredNetwork,
  SubnetInfo,
  SubnetRequest,
  SubnetUsage,
} from './types.ts';

export { createAddressSpace, restoreAddressSpace } from './address-space.ts';
export {
  DEFAULT_IPV4_POOL,
  DEFAULT_IPV6_POOL,
  INGRESS_GATEWAY,
  INGRESS_SUBNET,
  defaultAddressSpaceConfig,
  ingressNetworkRequest,
  validateAddressSpaceConfig,
} from './config.ts';
export { subnetRequestsFromFlags, type SubnetFlags } from './flags.ts';
export { canonicalAddress, canonicalCidr } from './address.ts';
export { IPAM_ERRORS, type IpamErrorCode } from './errors.ts';
