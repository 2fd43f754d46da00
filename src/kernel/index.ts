/**
 * src/kernel: the only code in shoal that touches the operating system.
 *
 * Real implementations program the kernel of one named network namespace each ('' is the
 * namespace the process runs in); Fakes implement the same interfaces with the kernel's
 * semantics for unit tests, and conformance tests hold the two together.
 */
export type * from './types.ts';
export * from './canonical.ts';
export * from './validate.ts';
export { createNetnsManager, netnsPath, requireNetns, NETNS_RUN_DIR } from './netns.ts';
export { openRtnl } from './rtnl.ts';
export { formatIp } from '../common/ip.ts';
export { createNft, canonicalNftTable, withRuleText } from './nft.ts';
export { createConntrack } from './conntrack.ts';
export { createSysctl } from './sysctl.ts';
export { execInNetns } from './exec.ts';
export { native } from './native.ts';
export { dumpRtnl } from './dump.ts';
export { FakeRtnl } from './fake-rtnl.ts';
export { FakeNetns } from './fake-netns.ts';
export { FakeKernel, FakeNamespace, createFakeKernel } from './fake-kernel.ts';
export { FakeNft } from './fake-nft.ts';
export { FakeConntrack } from './fake-conntrack.ts';
export { FakeSysctl } from './fake-sysctl.ts';

import type { KernelHandles } from './types.ts';
import { openRtnl } from './rtnl.ts';
import { createNft } from './nft.ts';
import { createConntrack } from './conntrack.ts';
import { createSysctl } from './sysctl.ts';

/** All real handles on one namespace, as the agent and the testbed use them. */
export async function openKernel(netns: string): Promise<KernelHandles> {
  return { netns, rtnl: await openRtnl(netns), nft: createNft(netns), conntrack: createConntrack(netns), sysctl: createSysctl(netns) };
}
