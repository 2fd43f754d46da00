/**
 * Ethernet MAC addresses: the canonical text form (six lowercase hex pairs separated by
 * colons), its bytes, and the unicast / flood distinction the kernel makes.
 *
 * Shared by the kernel layer (netlink attributes, the fakes' rules) and everything that
 * validates a MAC before it reaches the kernel.
 */
import { ShoalError } from './errors.ts';
import { requireIp } from './ip.ts';

/** The all-zero MAC: a link without an address; in a VXLAN fdb, the flood entry. */
export const ZERO_MAC = '00:00:00:00:00:00';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Returns the MAC in canonical lowercase form; throws SHOAL_ERR_BAD_MAC. */
export function normalizeMac(mac: string): string {
  const m = typeof mac === 'string' ? mac.toLowerCase() : '';
  if (!MAC_RE.test(m))
    throw new ShoalError('SHOAL_ERR_BAD_MAC', `MAC address ${JSON.stringify(mac)} is not valid (want xx:xx:xx:xx:xx:xx)`, {
      details: { mac },
    });
  return m;
}

/** The six bytes of a MAC (any case); throws SHOAL_ERR_BAD_MAC. */
export function macToBytes(mac: string): Buffer {
  return Buffer.from(normalizeMac(mac).replaceAll(':', ''), 'hex');
}

/**
 * Canonical text of six bytes. Anything else (an absent or short attribute) reads as
 * ZERO_MAC, which is what the kernel reports for a link without an address.
 */
export function formatMac(bytes: Uint8Array | undefined): string {
  if (!bytes || bytes.length !== 6) return ZERO_MAC;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A MAC a device may carry: not all-zero and not multicast (the kernel's is_valid_ether_addr). */
export function isUnicastMac(mac: string): boolean {
  return mac !== ZERO_MAC && (parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

/** The all-zero and multicast MACs hold a list of VXLAN destinations; unicast ones hold one. */
export function isFloodMac(mac: string): boolean {
  return !isUnicastMac(mac);
}

/**
 * The MAC shoal gives an endpoint: 02:42 (locally administered, unicast; Docker's prefix)
 * followed by the four bytes of its IPv4 address, so '10.0.9.5' gets 02:42:0a:00:09:05. An
 * IPv6-only endpoint uses the last four bytes of its IPv6 address. Deriving the MAC from
 * the address lets every node compute a peer's neighbour and fdb entries from the address
 * alone, without another lookup. Throws SHOAL_ERR_BAD_ADDRESS when `address` is not an
 * IPv4 or IPv6 address.
 */
export function macForAddress(address: string): string {
  const bytes = requireIp(address).bytes;
  const mac = Buffer.alloc(6);
  mac[0] = 0x02;
  mac[1] = 0x42;
  bytes.copy(mac, 2, bytes.length - 4);
  return formatMac(mac);
}
