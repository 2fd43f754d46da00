/**
 * The canonical text of everything the overlay owns on a node, as the kernel holds it:
 * the host namespace and every `<prefix>ov-*` / `<prefix>sb-*` namespace (kernel/dump.ts
 * form, all objects), the egress nftables table and the host sysctls we set. Two nodes,
 * or one node after a full and after an incremental sync, in the same state dump the same
 * text; tests compare these, and it is what to print when debugging a node.
 */
import { canonicalNftTable } from '../kernel/nft.ts';
import { dumpRtnl } from '../kernel/dump.ts';
import { HOST_SYSCTLS } from './actual.ts';
import { egressTableName, netnsRole } from './names.ts';
import type { OverlayKernel } from './overlay-kernel.ts';

export async function dumpOverlay(k: OverlayKernel, prefix: string): Promise<string> {
  try {
    const names = (await k.netns.list()).filter((n) => netnsRole(prefix, n) !== undefined).sort();
    const out: string[] = [];
    for (const ns of ['', ...names]) {
      out.push(`== netns ${ns === '' ? 'host' : ns}`);
      const text = await dumpRtnl(await k.rtnl(ns));
      if (text !== '') out.push(text);
    }
    out.push('== nft host');
    const table = await k.nft('').listTable('ip', egressTableName(prefix));
    if (table) out.push(canonicalNftTable(table.json));
    out.push('== sysctl host');
    for (const s of HOST_SYSCTLS) out.push(`${s} = ${await k.sysctl('').get(s)}`);
    return out.join('\n');
  } finally {
    k.release();
  }
}
