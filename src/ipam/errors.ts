/**
 * IPAM error codes. Codes are API (CLI output, gRPC details, docs/ipam.md): never renamed
 * or reused. Categories map to gRPC statuses in the manager.
 *
 * Choices worth stating: an overlap is 'exists' (the request is well formed; the address
 * space is already taken by another network, and the same request succeeds once that
 * network is gone). Exhaustion is 'precondition', not 'unavailable': retrying does not help
 * until an operator frees addresses or makes a bigger network.
 */
import { ShoalError, registerErrorCodes } from '../common/errors.ts';

export const IPAM_ERROR_CODES = {
  /** Not a CIDR (syntax, prefix length out of range). */
  SHOAL_ERR_IPAM_BAD_CIDR: 'invalid',
  /** A CIDR with bits set after the prefix (10.0.0.1/24). */
  SHOAL_ERR_IPAM_HOST_BITS_SET: 'invalid',
  /** Not an IPv4 or IPv6 address. */
  SHOAL_ERR_IPAM_BAD_ADDRESS: 'invalid',
  /** A gateway, ip-range, aux address or requested address outside its subnet / the network. */
  SHOAL_ERR_IPAM_OUTSIDE_SUBNET: 'invalid',
  /** A subnet too small to hold a gateway and one address (IPv4 /31, /32; IPv6 /127, /128). */
  SHOAL_ERR_IPAM_SUBNET_TOO_SMALL: 'invalid',
  /** Options that do not fit together (duplicate aux name, two gateways for one subnet, ...). */
  SHOAL_ERR_IPAM_BAD_OPTIONS: 'invalid',
  /** The network has no subnet of the requested family. */
  SHOAL_ERR_IPAM_NO_SUBNET: 'invalid',
  /** A reserved address was requested or released (network, broadcast, anycast, gateway, aux). */
  SHOAL_ERR_IPAM_ADDRESS_RESERVED: 'invalid',
  /** A subnet overlaps another network's subnet (or another subnet of the same request). */
  SHOAL_ERR_IPAM_OVERLAP: 'exists',
  /** A requested address is already held. */
  SHOAL_ERR_IPAM_ADDRESS_IN_USE: 'exists',
  /** A network with that ID already exists in the address space. */
  SHOAL_ERR_IPAM_NETWORK_EXISTS: 'exists',
  /** No such network (or it was removed). */
  SHOAL_ERR_IPAM_NETWORK_NOT_FOUND: 'not_found',
  /** The network has no free address for dynamic allocation. */
  SHOAL_ERR_IPAM_EXHAUSTED: 'precondition',
  /** The default pools have no free subnet left. */
  SHOAL_ERR_IPAM_POOL_EXHAUSTED: 'precondition',
  /** A stored form that cannot be read or contradicts the others (overlap on restore). */
  SHOAL_ERR_IPAM_BAD_STATE: 'internal',
} as const;

export type IpamErrorCode = keyof typeof IPAM_ERROR_CODES;

registerErrorCodes(IPAM_ERROR_CODES);

export function ipamError(code: IpamErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown): ShoalError {
  return new ShoalError(code, message, cause === undefined ? { details } : { details, cause });
}
