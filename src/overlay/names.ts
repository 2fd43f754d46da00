/**
 * Names of everything the overlay creates on a node, in one place.
 *
 * Namespaces carry the whole prefix (`shoal-h2-ov-<id12>`, `shoal-h2-sb-<id12>`): netns
 * names may be long. Links in the host namespace share IFNAMSIZ (15 characters) with
 * their prefix, so they use hostLinkPrefix(): the prefix itself when it is at most 9
 * characters, otherwise its first 4 characters, a 4-character hash of the whole prefix
 * and `-` (9 characters), which leaves 6 for the role:
 *   <lp>gw0        the gateway bridge
 *   <lp>e<5>       a sandbox's egress veth (5 characters derived from the sandbox id)
 *   <lp>v<vni36>   a VXLAN device between its creation here and its move (VNI in base 36,
 *                  at most 5 characters: 16777215 is "9zldr")
 * Links inside the overlay and sandbox namespaces need no prefix: those namespaces are
 * ours alone.
 *
 * Pure: no I/O, used by the planner and the reader alike.
 */
import { IFNAME_MAX } from '../kernel/validate.ts';

/** Longest host link prefix: IFNAME_MAX minus the longest role suffix (`e` + 5). */
export const HOST_LINK_PREFIX_MAX = IFNAME_MAX - 6;

/** Characters a prefix may hold: a letter first, then letters, digits, `-`, `_`, `.`. */
export const PREFIX_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** 32-bit FNV-1a of a string's UTF-16 code units: a stable, dependency-free hash. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** `n` base-36 characters derived from `text` (n <= 6: 36^6 < 2^32). */
export function hash36(text: string, n: number): string {
  const mod = 36 ** n;
  return (fnv1a(text) % mod).toString(36).padStart(n, '0');
}

/** The 12-character short form of an id, as namespace and veth names use it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

export function overlayNetnsName(prefix: string, networkId: string): string {
  return `${prefix}ov-${shortId(networkId)}`;
}

export function sandboxNetnsName(prefix: string, sandboxId: string): string {
  return `${prefix}sb-${shortId(sandboxId)}`;
}

/** The overlay namespaces' prefix: `${prefix}ov-`. */
export function overlayNetnsPrefix(prefix: string): string {
  return `${prefix}ov-`;
}

export function sandboxNetnsPrefix(prefix: string): string {
  return `${prefix}sb-`;
}

/** The VXLAN device inside an overlay namespace: `vx4097` (at most 10 characters). */
export function vxlanName(vni: number): string {
  return `vx${vni}`;
}

export const OVERLAY_BRIDGE = 'br0';

/** A sandbox's veth end inside the overlay namespace (enslaved to br0): `v<id12>`. */
export function sandboxVethName(sandboxId: string): string {
  return `v${shortId(sandboxId)}`;
}

/** The sandbox-side interface name of attachment `index`: eth0, eth1, ... */
export function sandboxIfname(index: number): string {
  return `eth${index}`;
}

/** The prefix every host-namespace link of ours starts with (see the module comment). */
export function hostLinkPrefix(prefix: string): string {
  if (prefix.length <= HOST_LINK_PREFIX_MAX) return prefix;
  return `${prefix.slice(0, 4)}${hash36(prefix, 4)}-`;
}

export function egressBridgeName(prefix: string): string {
  return `${hostLinkPrefix(prefix)}gw0`;
}

/**
 * The host end of a sandbox's egress veth: `<lp>e` + 5 base-36 characters hashed from the
 * whole sandbox id (`salt` > 0 only to resolve a collision between two sandboxes, which
 * the planner does in id order). 36^5 is about 60 million names: among 1,000 sandboxes on
 * one host a collision has a probability near 1%, and costs the later id a salted name.
 */
export function egressVethName(prefix: string, sandboxId: string, salt = 0): string {
  return `${hostLinkPrefix(prefix)}e${hash36(salt === 0 ? sandboxId : `${sandboxId}#${salt}`, 5)}`;
}

/** The name a VXLAN device has in the host namespace before it is moved: `<lp>v<vni base 36>`. */
export function tempVxlanName(prefix: string, vni: number): string {
  return `${hostLinkPrefix(prefix)}v${vni.toString(36)}`;
}

/** The nftables table of the host's egress (masquerade and isolation), family ip. */
export function egressTableName(prefix: string): string {
  return `${prefix}egress`;
}

/** The role of a host link of ours, by name; undefined for a link that is not ours. */
export function hostLinkRole(prefix: string, name: string): 'egress-bridge' | 'egress-veth' | 'temp-vxlan' | undefined {
  const lp = hostLinkPrefix(prefix);
  if (!name.startsWith(lp)) return undefined;
  const rest = name.slice(lp.length);
  if (rest === 'gw0') return 'egress-bridge';
  if (/^e[0-9a-z]{5}$/.test(rest)) return 'egress-veth';
  if (/^v[0-9a-z]{1,5}$/.test(rest)) return 'temp-vxlan';
  return undefined;
}

/** The role of a namespace of ours, by name; undefined for one that is not ours. */
export function netnsRole(prefix: string, name: string): 'overlay' | 'sandbox' | undefined {
  if (name.startsWith(overlayNetnsPrefix(prefix)) && name.length > overlayNetnsPrefix(prefix).length) return 'overlay';
  if (name.startsWith(sandboxNetnsPrefix(prefix)) && name.length > sandboxNetnsPrefix(prefix).length) return 'sandbox';
  return undefined;
}

/** Sandbox-side interfaces we own inside a sandbox namespace: eth<N>. */
export function isSandboxIfname(name: string): boolean {
  return /^eth\d+$/.test(name);
}
