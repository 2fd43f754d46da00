/**
 * The files a sandbox's processes see as /etc/resolv.conf and /etc/hosts.
 */
import { RESOLVER_ADDRESS } from '../vip/mesh-plan.ts';

/**
 * resolv.conf and hosts of a sandbox. The embedded resolver at 127.0.0.11 is its only
 * nameserver, whatever `--dns` says: the resolver answers the cluster's names and forwards
 * the rest to the `--dns` servers (or the host's). Docker's default `ndots:0` unless the
 * user set ndots.
 */
export function sandboxFiles(f: { hostname: string; addresses: string[]; dnsSearch: string[]; dnsOptions: string[] }): {
  resolvConf: string;
  hosts: string;
} {
  const lines = [`nameserver ${RESOLVER_ADDRESS}`];
  if (f.dnsSearch.length > 0) lines.push(`search ${f.dnsSearch.join(' ')}`);
  const options = f.dnsOptions.some((o) => o.startsWith('ndots:')) ? f.dnsOptions : ['ndots:0', ...f.dnsOptions];
  lines.push(`options ${options.join(' ')}`);
  const hosts = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    ...f.addresses.slice(0, 1).map((a) => `${a}\t${f.hostname}`),
  ];
  return { resolvConf: `${lines.join('\n')}\n`, hosts: `${hosts.join('\n')}\n` };
}
