/**
 * An OverlayKernel over a FakeKernel, for unit tests of the reader, applier and syncer.
 *
 * Rtnetlink is the FakeKernel's (one simulated kernel, every namespace in it); nftables
 * and sysctls are a FakeNft and a FakeSysctl per namespace, kept for the namespace's
 * life (deleting the namespace drops them, as the kernel drops a namespace's tables).
 * '' maps to `hostNetns` as in the real adapter: '' is the FakeKernel's initial namespace.
 */
import type { FakeKernel } from '../kernel/fake-kernel.ts';
import { FakeNft } from '../kernel/fake-nft.ts';
import { FakeSysctl } from '../kernel/fake-sysctl.ts';
import { composeOverlayKernel, type OverlayKernel } from './overlay-kernel.ts';

export interface FakeOverlayKernel extends OverlayKernel {
  readonly kernel: FakeKernel;
  /** The FakeNft of a namespace ('' = host), created on first use. */
  fakeNft(netns: string): FakeNft;
  /** The FakeSysctl of a namespace ('' = host), created on first use. */
  fakeSysctl(netns: string): FakeSysctl;
}

export function createFakeOverlayKernel(kernel: FakeKernel, options: { hostNetns?: string } = {}): FakeOverlayKernel {
  const hostNetns = options.hostNetns ?? '';
  const nfts = new Map<string, FakeNft>();
  const sysctls = new Map<string, FakeSysctl>();
  const nftOf = (netns: string): FakeNft => {
    let n = nfts.get(netns);
    if (!n) {
      n = new FakeNft({ netns: netns || 'host' });
      nfts.set(netns, n);
    }
    return n;
  };
  const sysctlOf = (netns: string): FakeSysctl => {
    let s = sysctls.get(netns);
    if (!s) {
      s = new FakeSysctl({ netns: netns || 'host' });
      sysctls.set(netns, s);
    }
    return s;
  };
  const k = composeOverlayKernel(
    {
      netns: kernel.netns,
      openRtnl: (n) => kernel.openRtnl(n),
      nft: nftOf,
      sysctl: sysctlOf,
      forget: (n) => {
        nfts.delete(n);
        sysctls.delete(n);
      },
    },
    hostNetns,
  );
  const real = (netns: string): string => (netns === '' ? hostNetns : netns);
  return {
    ...k,
    kernel,
    fakeNft: (n) => nftOf(real(n)),
    fakeSysctl: (n) => sysctlOf(real(n)),
  };
}
