/**
 * Watchable endpoint lists, one topic per network (Dispatcher.WatchEndpoints): what an
 * agent programs from when gossip lost an entry. The manager is the truth for which
 * endpoints exist, so a watcher first gets the network's complete list (a snapshot, VIPs
 * and every node's endpoints included) and then, for every committed transaction that
 * touched the network's endpoints, one delta (upserts and removed IDs).
 *
 * Driven by the store's change notifications, never by polling: the snapshot is read and
 * the watcher registered in the same synchronous step, and the store calls its listeners
 * synchronously after each commit, so no commit can fall between the two. A deleted
 * endpoint's event carries only its ID; the hub remembers which watched network each
 * endpoint belongs to (only for networks someone watches), which is how a removal finds its
 * topic.
 *
 * Who may watch what is the dispatcher's decision (session.ts); this module only streams,
 * and says which nodes watch a network now (`nodesWatching`): the nodes a task's drain
 * waits for (drain-tracker.ts).
 */
import type { Endpoint, EndpointEvent } from '../api/api-types.ts';
import type { Logger } from '../common/logger.ts';
import type { EndpointRecord, Kinds } from './objects.ts';
import type { DrainWatchers } from './drain-tracker.ts';
import type { ChangeBatch, Store } from './store.ts';
import { endpointView } from './views.ts';

/** Where one watcher's events go (the gRPC server stream, or a test's array). */
export interface EndpointWatchSink {
  write(event: EndpointEvent): void;
}

interface Topic {
  networkId: string;
  /** IDs of the network's endpoints as last sent. */
  ids: Set<string>;
  /** Each watcher and the node it streams to ('' when unnamed). */
  sinks: Map<EndpointWatchSink, string>;
}

export class EndpointWatchHub implements DrainWatchers {
  private readonly store: Store<Kinds>;
  private readonly logger: Logger;
  private readonly topics = new Map<string, Topic>();
  /** endpoint ID -> network ID, for the endpoints of watched networks. */
  private readonly networkOf = new Map<string, string>();
  private unwatch: (() => void) | undefined;

  constructor(store: Store<Kinds>, logger: Logger) {
    this.store = store;
    this.logger = logger;
  }

  /** Subscribes to the store's commits (idempotent; the first watch does it too). */
  start(): void {
    this.unwatch ??= this.store.watch((batch) => this.onCommit(batch));
  }

  /** Watchers across all networks (diagnostics, tests). */
  get watcherCount(): number {
    let n = 0;
    for (const t of this.topics.values()) n += t.sinks.size;
    return n;
  }

  /** The nodes with an open watch of the network now. */
  nodesWatching(networkId: string): Set<string> {
    const out = new Set<string>();
    const topic = this.topics.get(networkId);
    if (topic) for (const nodeId of topic.sinks.values()) if (nodeId !== '') out.add(nodeId);
    return out;
  }

  /**
   * Registers `sink` (streaming to node `nodeId`) for the networks and writes one snapshot
   * per network at once; returns the function that ends the watch (idempotent).
   */
  watch(networkIds: readonly string[], sink: EndpointWatchSink, nodeId = ''): () => void {
    this.start();
    const ids = [...new Set(networkIds)];
    const snapshots = this.store.view((tx) => ({
      version: tx.revision,
      lists: ids.map((id) => ({ id, endpoints: tx.byIndex('endpoint', 'network', id).map(endpointView) })),
    }));
    const joined: Topic[] = [];
    for (const { id, endpoints } of snapshots.lists) {
      let topic = this.topics.get(id);
      if (!topic) {
        topic = { networkId: id, ids: new Set(), sinks: new Map() };
        this.topics.set(id, topic);
      }
      // the store is the truth: a snapshot also corrects what the topic remembered
      for (const old of topic.ids) this.networkOf.delete(old);
      topic.ids = new Set(endpoints.map((e) => e.id));
      for (const e of endpoints) this.networkOf.set(e.id, id);
      topic.sinks.set(sink, nodeId);
      joined.push(topic);
      this.send(sink, { kind: 'snapshot', networkId: id, version: snapshots.version, endpoints, removedIds: [] });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const topic of joined) {
        topic.sinks.delete(sink);
        if (topic.sinks.size === 0 && this.topics.get(topic.networkId) === topic) this.dropTopic(topic);
      }
    };
  }

  private dropTopic(topic: Topic): void {
    for (const id of topic.ids) this.networkOf.delete(id);
    this.topics.delete(topic.networkId);
  }

  private onCommit(batch: ChangeBatch): void {
    if (this.topics.size === 0) return;
    // the last event of an endpoint in the batch wins (a transaction may write one twice)
    const last = new Map<string, EndpointRecord | undefined>();
    for (const e of batch.events) {
      if (e.kind !== 'endpoint') continue;
      last.set(e.id, e.op === 'put' ? (e.object as EndpointRecord) : undefined);
    }
    if (last.size === 0) return;
    const deltas = new Map<string, { endpoints: Endpoint[]; removedIds: string[] }>();
    const deltaOf = (networkId: string): { endpoints: Endpoint[]; removedIds: string[] } => {
      let d = deltas.get(networkId);
      if (!d) deltas.set(networkId, (d = { endpoints: [], removedIds: [] }));
      return d;
    };
    for (const [id, rec] of last) {
      if (rec) {
        const topic = this.topics.get(rec.networkId);
        if (!topic) continue;
        topic.ids.add(id);
        this.networkOf.set(id, rec.networkId);
        deltaOf(rec.networkId).endpoints.push(endpointView(rec));
      } else {
        const networkId = this.networkOf.get(id);
        if (networkId === undefined) continue;
        this.networkOf.delete(id);
        this.topics.get(networkId)?.ids.delete(id);
        deltaOf(networkId).removedIds.push(id);
      }
    }
    for (const [networkId, d] of deltas) {
      const topic = this.topics.get(networkId);
      if (!topic) continue;
      const event: EndpointEvent = { kind: 'delta', networkId, version: batch.revision, endpoints: d.endpoints, removedIds: d.removedIds };
      for (const sink of topic.sinks.keys()) this.send(sink, event);
    }
  }

  private send(sink: EndpointWatchSink, event: EndpointEvent): void {
    try {
      sink.write(event);
    } catch (err) {
      // a broken stream is ended by its own close handler; the others keep going
      this.logger.debug({ err, networkId: event.networkId }, 'endpoint watch write failed');
    }
  }

  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.topics.clear();
    this.networkOf.clear();
  }
}
