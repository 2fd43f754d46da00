/**
 * FakeSysctl: the sysctls of a new network namespace, in memory, with the kernel's
 * semantics for the ones shoal touches. Its conformance test (test/kernel/sysctl.test.ts)
 * checks every default and rule below against a fresh namespace.
 *
 * What it models (measured on kernel 6.18):
 * - the defaults of a new namespace (DEFAULT_NET_SYSCTLS): ip_forward 0, rp_filter 0,
 *   nf_conntrack_max 262144, bridge-nf-call-iptables 1, ...;
 * - per-interface `net.ipv4.conf.IF.*` and `net.ipv6.conf.IF.*`: `lo` exists from the
 *   start; addInterface() copies the `default` values, as the kernel does for a new link;
 * - writing `net.ipv4.ip_forward` or `net.ipv4.conf.all.forwarding` sets both, plus
 *   `conf.default.forwarding` and every interface's `forwarding`;
 *   `conf.all.accept_redirects` becomes its opposite (0 when forwarding);
 *   writing `net.ipv6.conf.all.forwarding` sets `default` and every interface's;
 * - writing `net.ipv4.conf.default.K` also changes K on every interface whose K was never
 *   written, except for forwarding and the route-flushing keys (route_localnet,
 *   disable_policy, disable_xfrm, promote_secondaries), which the kernel does not carry over;
 * - nf_conntrack_max and nf_conntrack_buckets are read-only in a namespace (EACCES);
 *   `lo` has disable_policy 1;
 * - numeric sysctls refuse non-numeric values (EINVAL); a vector (ip_local_port_range)
 *   reads back tab-separated, as /proc does. Value ranges are not modelled.
 * Unknown names are SHOAL_ERR_NOT_FOUND unless a test declared them with define().
 */
import { ShoalError } from '../common/errors.ts';
import { sysctlDottedName, sysctlPath, sysctlValueText } from './sysctl.ts';
import type { Sysctl } from './types.ts';
import { validateIfname } from './validate.ts';

/** Namespace-wide sysctls of a new network namespace (slashed path -> value). */
export const DEFAULT_NET_SYSCTLS: Readonly<Record<string, string>> = Object.freeze({
  'net/ipv4/ip_forward': '0',
  'net/ipv4/ip_nonlocal_bind': '0',
  'net/ipv4/ip_local_port_range': '32768\t60999',
  'net/ipv4/ip_unprivileged_port_start': '1024',
  'net/ipv4/ip_default_ttl': '64',
  'net/ipv4/ping_group_range': '1\t0',
  'net/ipv4/tcp_fin_timeout': '60',
  'net/ipv4/fib_multipath_hash_policy': '0',
  'net/ipv6/ip_nonlocal_bind': '0',
  'net/core/somaxconn': '4096',
  'net/netfilter/nf_conntrack_max': '262144',
  'net/netfilter/nf_conntrack_buckets': '262144',
  'net/netfilter/nf_conntrack_tcp_be_liberal': '0',
  'net/netfilter/nf_conntrack_udp_timeout': '30',
  'net/netfilter/nf_conntrack_tcp_timeout_established': '432000',
  'net/bridge/bridge-nf-call-iptables': '1',
  'net/bridge/bridge-nf-call-ip6tables': '1',
  'net/bridge/bridge-nf-call-arptables': '1',
});

/** `net.ipv4.conf.{all,default,IF}.*` of a new namespace. */
export const DEFAULT_IPV4_CONF: Readonly<Record<string, string>> = Object.freeze({
  forwarding: '0',
  rp_filter: '0',
  route_localnet: '0',
  accept_local: '0',
  arp_ignore: '0',
  arp_announce: '0',
  arp_filter: '0',
  arp_notify: '0',
  proxy_arp: '0',
  send_redirects: '1',
  accept_redirects: '1',
  log_martians: '0',
  src_valid_mark: '0',
  bc_forwarding: '0',
  disable_policy: '0',
  promote_secondaries: '0',
});

/** `net.ipv6.conf.{all,default,IF}.*` of a new namespace. */
export const DEFAULT_IPV6_CONF: Readonly<Record<string, string>> = Object.freeze({
  forwarding: '0',
  disable_ipv6: '0',
  accept_ra: '1',
  autoconf: '1',
  accept_redirects: '1',
  proxy_ndp: '0',
});

/** Read-only outside the host's initial namespace (writing is EACCES): conntrack sizing is global. */
const READ_ONLY = new Set(['net/netfilter/nf_conntrack_max', 'net/netfilter/nf_conntrack_buckets']);

/** IPv4 conf keys whose `default` value the kernel does not carry over to existing links. */
const IPV4_NOT_INHERITED = new Set(['forwarding', 'route_localnet', 'disable_policy', 'disable_xfrm', 'promote_secondaries']);

const NUMERIC = /^-?\d+(\t-?\d+)*$/;

export interface FakeSysctlOptions {
  /** Name of the namespace this fake stands for (only used in messages and net.* checks). */
  netns?: string;
  /** Interfaces besides `lo` that exist from the start. */
  interfaces?: readonly string[];
  /** More sysctls (dotted or slashed name -> value) the fake should know. */
  extra?: Readonly<Record<string, string | number>>;
}

export class FakeSysctl implements Sysctl {
  readonly netns: string;
  /** Slashed path -> value. */
  readonly #values = new Map<string, string>();
  /** IPv4 conf paths of interfaces that were written directly (no longer follow `default`). */
  readonly #written = new Set<string>();
  readonly #interfaces = new Set<string>();
  /** Counts of get and set calls, for tests that check what a caller touched. */
  readonly calls = { get: 0, set: 0 };

  constructor(options: FakeSysctlOptions = {}) {
    this.netns = options.netns ?? 'fake';
    for (const [path, value] of Object.entries(DEFAULT_NET_SYSCTLS)) this.#values.set(path, value);
    for (const scope of ['all', 'default']) {
      for (const [k, v] of Object.entries(DEFAULT_IPV4_CONF)) this.#values.set(`net/ipv4/conf/${scope}/${k}`, v);
      for (const [k, v] of Object.entries(DEFAULT_IPV6_CONF)) this.#values.set(`net/ipv6/conf/${scope}/${k}`, v);
    }
    this.addInterface('lo');
    // The kernel turns IPsec policy checks off on loopback.
    this.#values.set('net/ipv4/conf/lo/disable_policy', '1');
    for (const ifname of options.interfaces ?? []) this.addInterface(ifname);
    for (const [name, value] of Object.entries(options.extra ?? {})) this.define(name, value);
  }

  async get(name: string): Promise<string> {
    this.calls.get++;
    const path = sysctlPath(name, this.netns);
    const value = this.#values.get(path);
    if (value === undefined) throw this.#notFound(name, path);
    return value;
  }

  async set(name: string, value: string | number): Promise<void> {
    this.calls.set++;
    const path = sysctlPath(name, this.netns);
    const old = this.#values.get(path);
    if (old === undefined) throw this.#notFound(name, path);
    if (READ_ONLY.has(path)) {
      throw new ShoalError('SHOAL_ERR_SYSCTL', `cannot write sysctl ${name}: Permission denied (read-only in a network namespace)`, {
        details: { name },
        errno: 'EACCES',
      });
    }
    let text = sysctlValueText(name, value).trim();
    if (NUMERIC.test(old)) {
      const fields = text.split(/\s+/);
      if (text === '' || !fields.every((f) => /^-?\d+$/.test(f))) {
        throw new ShoalError('SHOAL_ERR_SYSCTL', `cannot write sysctl ${name}: Invalid argument`, {
          details: { name, value: text },
          errno: 'EINVAL',
        });
      }
      text = fields.map((f) => String(Number(f))).join('\t');
    }
    this.#write(path, text);
  }

  /** Teaches the fake a sysctl it does not know (or resets one it knows). */
  define(name: string, value: string | number): void {
    const path = sysctlPath(name);
    this.#values.set(path, sysctlValueText(name, value));
  }

  /** A new link: its conf entries start from the `default` values, as the kernel does. */
  addInterface(ifname: string): void {
    validateIfname(ifname);
    if (this.#interfaces.has(ifname)) return;
    this.#interfaces.add(ifname);
    for (const family of ['ipv4', 'ipv6']) {
      const defaults = family === 'ipv4' ? DEFAULT_IPV4_CONF : DEFAULT_IPV6_CONF;
      for (const k of Object.keys(defaults)) {
        this.#values.set(`net/${family}/conf/${ifname}/${k}`, this.#values.get(`net/${family}/conf/default/${k}`) ?? defaults[k]!);
      }
    }
  }

  /** A deleted (or moved away) link: its conf entries disappear. */
  removeInterface(ifname: string): void {
    if (!this.#interfaces.delete(ifname)) return;
    for (const path of [...this.#values.keys()]) {
      if (path.startsWith(`net/ipv4/conf/${ifname}/`) || path.startsWith(`net/ipv6/conf/${ifname}/`)) {
        this.#values.delete(path);
        this.#written.delete(path);
      }
    }
  }

  /** Every sysctl as `dotted.name = value`, sorted: the fake's comparable dump. */
  dump(): string {
    return [...this.#values.entries()]
      .map(([path, value]) => `${sysctlDottedName(path)} = ${value}`)
      .sort()
      .join('\n');
  }

  #write(path: string, value: string): void {
    const m = /^net\/(ipv4|ipv6)\/conf\/([^/]+)\/([^/]+)$/.exec(path);
    if (path === 'net/ipv4/ip_forward' || path === 'net/ipv4/conf/all/forwarding') {
      this.#values.set('net/ipv4/ip_forward', value);
      this.#values.set('net/ipv4/conf/all/forwarding', value);
      this.#values.set('net/ipv4/conf/default/forwarding', value);
      // A router does not take redirects: the kernel flips all.accept_redirects with it.
      this.#values.set('net/ipv4/conf/all/accept_redirects', value === '0' ? '1' : '0');
      for (const ifname of this.#interfaces) this.#values.set(`net/ipv4/conf/${ifname}/forwarding`, value);
      return;
    }
    if (path === 'net/ipv6/conf/all/forwarding') {
      this.#values.set(path, value);
      this.#values.set('net/ipv6/conf/default/forwarding', value);
      for (const ifname of this.#interfaces) this.#values.set(`net/ipv6/conf/${ifname}/forwarding`, value);
      return;
    }
    this.#values.set(path, value);
    if (m === null) return;
    const [, family, scope, key] = m as unknown as [string, string, string, string];
    if (family !== 'ipv4' || scope === 'all') return;
    if (scope !== 'default') {
      this.#written.add(path);
      return;
    }
    if (IPV4_NOT_INHERITED.has(key)) return;
    for (const ifname of this.#interfaces) {
      const p = `net/ipv4/conf/${ifname}/${key}`;
      if (!this.#written.has(p) && this.#values.has(p)) this.#values.set(p, value);
    }
  }

  #notFound(name: string, path: string): ShoalError {
    return new ShoalError('SHOAL_ERR_NOT_FOUND', `sysctl ${name} does not exist in namespace ${this.netns} (${path})`, {
      details: { name, netns: this.netns },
      errno: 'ENOENT',
    });
  }
}
