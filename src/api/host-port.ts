/**
 * `IP:PORT` addresses as flags and the API write them (`--listen-addr`, `--manager`, a
 * join token's manager address): IPv6 in brackets, `[fd00::1]:2377`. Host names are not
 * accepted; a node's addresses are what it advertises, never resolved.
 */
import { isIP } from 'node:net';

/** Splits "IP:PORT" / "[v6]:PORT"; undefined when malformed. */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(addr);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535 || isIP(host) === 0) return undefined;
  return { host, port };
}

/** "IP:PORT", with an IPv6 address in brackets (the inverse of splitHostPort). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
