/**
 * FakeRtnl: an Rtnl handle on one namespace of a FakeKernel.
 *
 * It does what the real handle (rtnl.ts) does around the kernel: validates every argument
 * with validate.ts before anything changes, resolves link names (a missing one is
 * SHOAL_ERR_LINK_NOT_FOUND with errno ENODEV), passes kernel errnos through as the same
 * ShoalError codes, and applies the Rtnl contract: deleting something that is not there
 * returns false. The kernel semantics themselves live in FakeKernel.
 *
 * Like an open netlink socket, a handle keeps its namespace alive after the namespace is
 * deleted by name, until the handle is closed.
 */
import { deletedUnlessMissing, ShoalError } from '../common/errors.ts';
import type { FakeKernel, FakeNamespace } from './fake-kernel.ts';
import type {
  Address,
  FdbEntry,
  Family,
  Link,
  LinkChanges,
  LinkSpec,
  Neighbor,
  NeighborMiss,
  Route,
  Rtnl,
  RtnlEvents,
  Watch,
} from './types.ts';
import {
  validateAddress,
  validateFdb,
  validateIfname,
  validateLinkChanges,
  validateLinkSpec,
  validateNeighbor,
  validateRoute,
} from './validate.ts';

export class FakeRtnl implements Rtnl {
  readonly netns: string;
  readonly #kernel: FakeKernel;
  readonly #ns: FakeNamespace;
  #closed = false;

  /** Use FakeKernel.openRtnl. */
  constructor(kernel: FakeKernel, netns: string, ns: FakeNamespace) {
    this.#kernel = kernel;
    this.netns = netns;
    this.#ns = ns;
  }

  #open(): FakeNamespace {
    if (this.#closed) throw new ShoalError('SHOAL_ERR_CLOSED', `rtnetlink handle for ${this.netns || 'current namespace'} is closed`);
    return this.#ns;
  }

  async listLinks(): Promise<Link[]> {
    return this.#kernel.listLinks(this.#open());
  }

  async getLink(name: string): Promise<Link | undefined> {
    validateIfname(name);
    return this.#kernel.listLinks(this.#open()).find((l) => l.name === name);
  }

  async addLink(spec: LinkSpec): Promise<void> {
    validateLinkSpec(spec);
    this.#kernel.addLink(this.#open(), spec);
  }

  async setLink(name: string, changes: LinkChanges): Promise<void> {
    validateLinkChanges(name, changes);
    this.#kernel.setLink(this.#open(), name, changes);
  }

  async deleteLink(name: string): Promise<boolean> {
    validateIfname(name);
    const ns = this.#open();
    return deletedUnlessMissing(() => this.#kernel.deleteLink(ns, name));
  }

  async listAddresses(link?: string): Promise<Address[]> {
    if (link !== undefined) validateIfname(link);
    return this.#kernel.listAddresses(this.#open(), link);
  }

  async addAddress(addr: Address): Promise<void> {
    validateAddress(addr);
    this.#kernel.addAddress(this.#open(), addr);
  }

  async deleteAddress(addr: Address): Promise<boolean> {
    validateAddress(addr);
    const ns = this.#open();
    return deletedUnlessMissing(() => this.#kernel.deleteAddress(ns, addr));
  }

  async listRoutes(options: { table?: number; family?: Family } = {}): Promise<Route[]> {
    return this.#kernel.listRoutes(this.#open(), options);
  }

  async addRoute(route: Route): Promise<void> {
    validateRoute(route);
    this.#kernel.addRoute(this.#open(), route);
  }

  async deleteRoute(route: Route): Promise<boolean> {
    validateRoute(route);
    const ns = this.#open();
    return deletedUnlessMissing(() => this.#kernel.deleteRoute(ns, route));
  }

  async listNeighbors(options: { link?: string; family?: Family } = {}): Promise<Neighbor[]> {
    return this.#kernel.listNeighbors(this.#open(), options);
  }

  async setNeighbor(neigh: Neighbor): Promise<void> {
    validateNeighbor(neigh);
    this.#kernel.setNeighbor(this.#open(), neigh);
  }

  async deleteNeighbor(neigh: Pick<Neighbor, 'link' | 'address'>): Promise<boolean> {
    validateNeighbor(neigh);
    const ns = this.#open();
    return deletedUnlessMissing(() => this.#kernel.deleteNeighbor(ns, neigh));
  }

  async listFdb(options: { link?: string } = {}): Promise<FdbEntry[]> {
    return this.#kernel.listFdb(this.#open(), options);
  }

  async setFdb(entry: FdbEntry): Promise<void> {
    validateFdb(entry);
    this.#kernel.setFdb(this.#open(), entry);
  }

  async deleteFdb(entry: Pick<FdbEntry, 'link' | 'mac' | 'dst' | 'self' | 'master'>): Promise<boolean> {
    validateFdb(entry);
    const ns = this.#open();
    return deletedUnlessMissing(() => this.#kernel.deleteFdb(ns, entry));
  }

  async watch(handlers: Partial<RtnlEvents>): Promise<Watch> {
    return this.#kernel.watch(this.#open(), handlers);
  }

  /**
   * Test hook: reports a VXLAN miss on this namespace as the device would (see
   * FakeKernel.injectMiss). Returns false when the link cannot report that miss.
   */
  injectMiss(miss: NeighborMiss): boolean {
    return this.#kernel.injectMissInto(this.#open(), miss);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kernel.release(this.#ns);
  }
}
