/**
 * Embedded resolver error codes. Codes are API (logs, docs): never renamed or reused. The
 * decoders' codes carry, in their details, the `rcode` a server answers with and, when the
 * 12-byte header could be read, the query's `id`, `opcode`, `rd` and `cd`, so that a server
 * can still say FORMERR (or BADVERS) to the client instead of dropping the datagram.
 */
import { defineErrorCodes } from '../common/errors.ts';

export const DNS_ERRORS = defineErrorCodes('Embedded DNS resolver', {
  SHOAL_ERR_DNS_MALFORMED: [
    'invalid',
    'a DNS message that cannot be decoded: cut short, a bad name (a label over 63 bytes, a name over 255, a compression pointer that does not point backwards or loops), a query without exactly one question, a second OPT record; details.rcode is FORMERR and details.id the message id when the header could be read',
  ],
  SHOAL_ERR_DNS_NOT_A_QUERY: [
    'invalid',
    'a message given to the query decoder with the QR bit set (a response): a server drops it rather than answer, so that two resolvers cannot answer each other in a loop',
  ],
  SHOAL_ERR_DNS_BAD_EDNS_VERSION: [
    'invalid',
    'a query whose OPT record asks for an EDNS version other than 0; details.rcode is BADVERS (16), answered with an OPT record',
  ],
  SHOAL_ERR_DNS_UPSTREAM: [
    'unavailable',
    'an upstream resolver could not be asked or did not answer in full: the send failed (no route from the sandbox, refused), or a TCP connection closed before a whole answer',
  ],
  SHOAL_ERR_DNS_BAD_MESSAGE: [
    'invalid',
    'a message the encoder cannot write: a name with an empty label, a label over 63 bytes or a name over 255, an address that does not parse, a field out of range, an OPT record among the records (EDNS goes in `edns`), a record whose type does not match its data, or a TCP message over 65,535 bytes',
  ],
});

export type DnsErrorCode = (typeof DNS_ERRORS.codes)[number];

/** Builds an error with one of the resolver's codes. */
export const dnsError = DNS_ERRORS.error;
