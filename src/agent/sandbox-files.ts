/**
 * The files a sandbox's processes see as /etc/resolv.conf and /etc/hosts.
 */

/** resolv.conf and hosts of a sandbox (the embedded resolver answers at 127.0.0.11). */
export function sandboxFiles(f: { hostname: string; addresses: string[]; dns: string[]; dnsSearch: string[]; dnsOptions: string[] }): {
  resolvConf: string;
  hosts: string;
} {
  const servers = f.dns.length > 0 ? f.dns : ['127.0.0.11'];
  const lines = servers.map((s) => `nameserver ${s}`);
  if (f.dnsSearch.length > 0) lines.push(`search ${f.dnsSearch.join(' ')}`);
  // Docker's default for the embedded resolver is ndots:0; an explicit --dns-option wins
  const options = f.dnsOptions.some((o) => o.startsWith('ndots:')) ? f.dnsOptions : ['ndots:0', ...f.dnsOptions];
  lines.push(`options ${options.join(' ')}`);
  const hosts = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    ...f.addresses.slice(0, 1).map((a) => `${a}\t${f.hostname}`),
  ];
  return { resolvConf: `${lines.join('\n')}\n`, hosts: `${hosts.join('\n')}\n` };
}
