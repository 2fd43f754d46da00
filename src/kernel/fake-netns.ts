/**
 * FakeNetns: the NetnsManager of a FakeKernel. Namespaces are created with `lo` only (down),
 * as `ip netns add` makes them; deleting one by name while handles are open keeps it alive
 * for those handles, as the kernel keeps a namespace alive while a socket is in it. Paths
 * are the ones the real manager uses, so code that builds nsenter command lines can be
 * tested against the fake.
 */
import type { FakeKernel } from './fake-kernel.ts';
import { netnsPath } from './netns.ts';
import type { NetnsManager } from './types.ts';
import { validateNetnsName } from './validate.ts';

export class FakeNetns implements NetnsManager {
  readonly #kernel: FakeKernel;

  /** Use FakeKernel.netns. */
  constructor(kernel: FakeKernel) {
    this.#kernel = kernel;
  }

  async create(name: string): Promise<boolean> {
    validateNetnsName(name);
    return this.#kernel.createNamespace(name);
  }

  async delete(name: string): Promise<boolean> {
    validateNetnsName(name);
    return this.#kernel.deleteNamespace(name);
  }

  async list(): Promise<string[]> {
    return this.#kernel.namespaceNames();
  }

  async exists(name: string): Promise<boolean> {
    validateNetnsName(name);
    return this.#kernel.hasNamespace(name);
  }

  path(name: string): string {
    return netnsPath(name);
  }
}
