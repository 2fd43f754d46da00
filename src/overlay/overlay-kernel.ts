/**
 * OverlayKernel: the narrow view of the kernel the overlay reader and applier use, and
 * its real adapter.
 *
 * Namespace '' is the agent's host namespace. The real adapter maps it to `hostNetns`:
 * '' (the namespace the process runs in, as the agent runs) or a named namespace (a test
 * that plays several hosts in one process). Every other name is a namespace under
 * /run/netns, the same for every host.
 *
 * Rtnetlink handles are opened on first use and kept until release(), which the syncer
 * calls after every sync: a handle is a netlink socket, and a socket inside a namespace
 * keeps that namespace alive after `ip netns del` (its veths with it), so no handle may
 * outlive the sync that opened it. For the same reason `netns.delete()` closes the
 * namespace's handle before it deletes the namespace.
 */
import { createNetnsManager } from '../kernel/netns.ts';
import { createNft, withRuleText } from '../kernel/nft.ts';
import { openRtnl } from '../kernel/rtnl.ts';
import { createSysctl } from '../kernel/sysctl.ts';
import type { NetnsManager, Nft, NftTableDump, Rtnl, Sysctl } from '../kernel/types.ts';

export interface OverlayKernel {
  /** Namespaces by name (/run/netns); delete() closes this adapter's handle on it first. */
  readonly netns: NetnsManager;
  /** The rtnetlink handle of a namespace ('' = the host namespace), opened once until release(). */
  rtnl(netns: string): Promise<Rtnl>;
  /**
   * nftables of a namespace ('' = host). listTable() rules carry `text` (their printed
   * form), so canonicalNftTable() of a real table equals the planner's canonical text.
   */
  nft(netns: string): Nft;
  sysctl(netns: string): Sysctl;
  /** Closes every rtnetlink handle opened since the last release(). */
  release(): void;
}

/** What an adapter is made of: per-namespace factories on real namespace names. */
export interface OverlayKernelParts {
  netns: NetnsManager;
  openRtnl(netns: string): Promise<Rtnl>;
  nft(netns: string): Nft;
  sysctl(netns: string): Sysctl;
  /** The namespace was deleted: drop anything kept for it. */
  forget?(netns: string): void;
}

/** An OverlayKernel over `parts`, with '' mapped to `hostNetns` and handles cached until release(). */
export function composeOverlayKernel(parts: OverlayKernelParts, hostNetns: string): OverlayKernel {
  const handles = new Map<string, Promise<Rtnl>>();
  const real = (netns: string): string => (netns === '' ? hostNetns : netns);
  const closeHandle = async (name: string): Promise<void> => {
    const h = handles.get(name);
    if (!h) return;
    handles.delete(name);
    try {
      (await h).close();
    } catch {
      /* the open failed: nothing to close */
    }
  };
  const netns: NetnsManager = {
    create: (name) => parts.netns.create(name),
    delete: async (name) => {
      await closeHandle(name);
      parts.forget?.(name);
      return parts.netns.delete(name);
    },
    list: () => parts.netns.list(),
    exists: (name) => parts.netns.exists(name),
    path: (name) => parts.netns.path(real(name)),
  };
  return {
    netns,
    rtnl(name: string): Promise<Rtnl> {
      const r = real(name);
      let h = handles.get(r);
      if (!h) {
        h = parts.openRtnl(r);
        handles.set(r, h);
        // A failed open is not cached: the next call tries again.
        h.catch(() => {
          if (handles.get(r) === h) handles.delete(r);
        });
      }
      return h;
    },
    nft: (name) => parts.nft(real(name)),
    sysctl: (name) => parts.sysctl(real(name)),
    release(): void {
      const all = [...handles.values()];
      handles.clear();
      for (const h of all) {
        h.then(
          (r) => r.close(),
          () => {},
        );
      }
    },
  };
}

/** nft with rule text in listTable(), so real dumps compare with the planner's text. */
function nftWithRuleText(netns: string): Nft {
  const nft = createNft(netns);
  return {
    apply: (tx) => nft.apply(tx),
    deleteTable: (family, name) => nft.deleteTable(family, name),
    listTables: () => nft.listTables(),
    async listTable(family: string, name: string): Promise<NftTableDump | undefined> {
      const dump = await nft.listTable(family, name);
      if (!dump) return undefined;
      const text = await nft.listTableText(family, name);
      return text === undefined ? dump : { ...dump, json: withRuleText(dump.json, text) };
    },
  };
}

/**
 * The real kernel, with '' meaning `hostNetns` ('' = the namespace this process runs in,
 * as the agent does; a name = that namespace, for tests that play several hosts).
 */
export function createOverlayKernel(hostNetns = ''): OverlayKernel {
  return composeOverlayKernel(
    { netns: createNetnsManager(), openRtnl: (n) => openRtnl(n), nft: (n) => nftWithRuleText(n), sysctl: (n) => createSysctl(n) },
    hostNetns,
  );
}

/** createOverlayKernel under the name the agent's brief used. */
export const realOverlayKernel = createOverlayKernel;
