/**
 * IPAM error codes. Codes are API (CLI output, gRPC details, docs/ipam.md): never renamed
 * or reused. Categories map to gRPC statuses in the manager.
 *
 * Choices worth stating: an overlap is 'exists' (the request is well formed; the address
 * space is already taken by another network, and the same request succeeds once that
 * network is gone). Exhaustion is 'precondition', not 'unavailable': retrying does not help
 * until an operator frees addresses or makes a bigger network.
 */
import { defineErrorCodes } from '../common/errors.ts';

export const IPAM_ERRORS = defineErrorCodes('IPAM', {
  SHOAL_ERR_IPAM_BAD_CIDR: ['invalid', 'not a CIDR (syntax, prefix length out of range)'],
  SHOAL_ERR_IPAM_HOST_BITS_SET: ['invalid', 'a CIDR with bits set after the prefix (10.0.0.1/24)'],
  SHOAL_ERR_IPAM_BAD_ADDRESS: ['invalid', 'not an IPv4 or IPv6 address'],
  SHOAL_ERR_IPAM_OUTSIDE_SUBNET: ['invalid', 'a gateway, ip-range, aux address or requested address outside its subnet / the network'],
  SHOAL_ERR_IPAM_SUBNET_TOO_SMALL: ['invalid', 'a subnet too small to hold a gateway and one address (IPv4 /31, /32; IPv6 /127, /128)'],
  SHOAL_ERR_IPAM_BAD_OPTIONS: ['invalid', 'options that do not fit together (duplicate aux name, two gateways for one subnet, ...)'],
  SHOAL_ERR_IPAM_NO_SUBNET: ['invalid', 'the network has no subnet of the requested family'],
  SHOAL_ERR_IPAM_ADDRESS_RESERVED: ['invalid', 'a reserved address was requested or released (network, broadcast, anycast, gateway, aux)'],
  SHOAL_ERR_IPAM_OVERLAP: ['exists', "a subnet overlaps another network's subnet (or another subnet of the same request)"],
  SHOAL_ERR_IPAM_ADDRESS_IN_USE: ['exists', 'a requested address is already held'],
  SHOAL_ERR_IPAM_NETWORK_EXISTS: ['exists', 'a network with that ID already exists in the address space'],
  SHOAL_ERR_IPAM_NETWORK_NOT_FOUND: ['not_found', 'no such network (or it was removed)'],
  SHOAL_ERR_IPAM_EXHAUSTED: ['precondition', 'the network has no free address for dynamic allocation'],
  SHOAL_ERR_IPAM_POOL_EXHAUSTED: ['precondition', 'the default pools have no free subnet left'],
  SHOAL_ERR_IPAM_BAD_STATE: ['internal', 'a stored form that cannot be read or contradicts the others (overlap on restore)'],
});

export type IpamErrorCode = (typeof IPAM_ERRORS.codes)[number];

/** Builds an error with one of the IPAM codes. */
export const ipamError = IPAM_ERRORS.error;
