/**
 * The table API the agent uses (node.tables): write and delete this node's entries, read
 * what is visible, and watch changes. It validates arguments (stable error codes), copies
 * values on the way in, and hands the work to the pure table machine (table-state.ts)
 * through the runtime. Watch handlers are called after the input that caused the change has
 * been fully handled, never from inside the state machine.
 *
 * Entries are identified by (network, table, owner, key): every node writes only its own
 * entries, so two nodes using the same key never overwrite each other. get() reads this
 * node's entry unless another owner is named; list() returns every owner's.
 */
import type { GossipConfig } from './config.ts';
import { gossipError } from './errors.ts';
import {
  getEntry,
  hasSynced,
  isJoined,
  listEntries,
  networkNodes,
  type TableChange,
  type TableEntry,
  type TablesInput,
  type TablesState,
} from './table-state.ts';
import { MAX_KEY_LENGTH, MAX_NAME_LENGTH } from './messages.ts';

export type TableWatcher = (change: TableChange) => void;

/** What the runtime gives the table API. */
export interface TablesHost {
  readonly name: string;
  readonly config: GossipConfig;
  state(): TablesState;
  input(input: TablesInput): void;
  requireRunning(): void;
}

/** Throws SHOAL_ERR_GOSSIP_BAD_NAME unless `value` is a non-empty string of at most `max` units without NUL. */
export function checkName(what: string, value: unknown, max: number): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || value.includes('\0')) {
    throw gossipError('SHOAL_ERR_GOSSIP_BAD_NAME', `${what} must be 1-${max} characters without NUL`, {
      what,
      value: typeof value === 'string' ? value.slice(0, 64) : typeof value,
    });
  }
}

export class GossipTables {
  private readonly watchers = new Map<string, Set<TableWatcher>>();

  constructor(private readonly host: TablesHost) {}

  /** Writes (creates or replaces) this node's entry. The value is copied. */
  set(network: string, table: string, key: string, value: Uint8Array): void {
    this.check(network, table, key);
    if (!(value instanceof Uint8Array)) throw gossipError('SHOAL_ERR_GOSSIP_BAD_NAME', 'a table value must be a Uint8Array');
    if (value.length > this.host.config.maxValueBytes) {
      throw gossipError(
        'SHOAL_ERR_GOSSIP_VALUE_TOO_LARGE',
        `value of ${value.length} bytes exceeds maxValueBytes ${this.host.config.maxValueBytes}`,
        { network, table, key, bytes: value.length },
      );
    }
    this.requireJoined(network);
    this.host.input({ type: 'set', network, table, key, value: new Uint8Array(value) });
  }

  /** Deletes this node's entry (a tombstone replicates the deletion). Deleting nothing succeeds. */
  delete(network: string, table: string, key: string): void {
    this.check(network, table, key);
    this.requireJoined(network);
    this.host.input({ type: 'delete', network, table, key });
  }

  /** The visible entry written by `owner` (default: this node). Values are shared: do not modify. */
  get(network: string, table: string, key: string, owner: string = this.host.name): TableEntry | undefined {
    this.check(network, table, key);
    this.host.requireRunning();
    return getEntry(this.host.state(), network, table, key, owner);
  }

  /** Every visible entry of a table, from all owners. */
  list(network: string, table: string): TableEntry[] {
    checkName('network', network, MAX_NAME_LENGTH);
    checkName('table', table, MAX_NAME_LENGTH);
    this.host.requireRunning();
    return listEntries(this.host.state(), network, table);
  }

  /**
   * True once a table sync with a peer of `network` completed since this node joined it:
   * from then on it holds what the network's other members had (the entries gossip alone
   * would only bring as their owners next change them).
   */
  synced(network: string): boolean {
    checkName('network', network, MAX_NAME_LENGTH);
    this.host.requireRunning();
    return hasSynced(this.host.state(), network);
  }

  /** Nodes this node believes are on `network` (whatever their liveness). */
  nodes(network: string): string[] {
    checkName('network', network, MAX_NAME_LENGTH);
    this.host.requireRunning();
    return networkNodes(this.host.state(), network);
  }

  /**
   * Calls `handler` for every add, update and delete of a visible entry of (network, table),
   * including entries appearing or disappearing because their owner came, went or returned.
   * Returns the function that stops watching.
   */
  watch(network: string, table: string, handler: TableWatcher): () => void {
    checkName('network', network, MAX_NAME_LENGTH);
    checkName('table', table, MAX_NAME_LENGTH);
    const k = watchKey(network, table);
    let set = this.watchers.get(k);
    if (!set) {
      set = new Set();
      this.watchers.set(k, set);
    }
    set.add(handler);
    return () => {
      const s = this.watchers.get(k);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) this.watchers.delete(k);
    };
  }

  /** @internal Delivers one change to its watchers. */
  deliver(change: TableChange, call: (fn: () => void) => void): void {
    const set = this.watchers.get(watchKey(change.network, change.table));
    if (!set) return;
    for (const h of set) call(() => h(change));
  }

  /** @internal Feeds an input to the table machine (used by the node for network joins). */
  input(input: TablesInput): void {
    this.host.input(input);
  }

  private check(network: string, table: string, key: string): void {
    checkName('network', network, MAX_NAME_LENGTH);
    checkName('table', table, MAX_NAME_LENGTH);
    checkName('key', key, MAX_KEY_LENGTH);
  }

  private requireJoined(network: string): void {
    this.host.requireRunning();
    if (!isJoined(this.host.state(), network)) {
      throw gossipError('SHOAL_ERR_GOSSIP_NOT_IN_NETWORK', `this node has not joined network ${network}`, { network });
    }
  }
}

function watchKey(network: string, table: string): string {
  return `${network}\0${table}`;
}
