/**
 * The manager's own TLS identity while it runs: the certificate its API server presents
 * (and the roots client certificates must chain to), renewed like an agent's at a random
 * point between 50% and 80% of its validity (src/api/cert-renewal.ts), and at once when a
 * root CA rotation starts. Each renewal makes a new key and goes through the same issuing
 * transaction as an agent's (control/certificates.ts), so the manager's node counts in a
 * rotation's progress like any other.
 *
 * It follows the cluster record: when the trusted roots change (`caVersion`), the server
 * gets the new bundle at once, and, during a rotation, presents the new root cross-signed
 * by the old one after its certificate, so agents that still trust only the old root
 * accept it. Connections already open keep their handshake.
 *
 * Renewed certificates live in memory only: DATA-DIR/certificates belongs to the agent on
 * this host at run time (it renews the same node's certificate over its session), and the
 * next manager start reissues from the store whatever it finds stale (cluster.ts).
 */
import { RenewalScheduler } from '../api/cert-renewal.ts';
import { generateNodeKey } from '../api/certificates.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { createRng } from '../common/rng.ts';
import { issuingRootDigest } from './ca.ts';
import { trustBundlePem } from './ca-rotation.ts';
import type { ManagerControl } from './control.ts';
import type { ClusterRecord } from './objects.ts';
import { CLUSTER_KEY } from './objects.ts';
import type { ChangeBatch } from './store.ts';

export interface ServerTls {
  /** Roots client certificates must chain to. */
  caPem: string;
  /** The server's certificate chain. */
  certPem: string;
  keyPem: string;
}

export interface ManagerCertificatesOptions {
  control: ManagerControl;
  clock: Clock;
  logger: Logger;
  /** The certificate and key the manager started with (cluster.ts ensureManagerCertificates). */
  initial: { certPem: string; keyPem: string };
  /** Hands new TLS material to the API server. */
  onUpdate: (tls: ServerTls) => void;
  /** Uniform in [0, 1) for the renewal draw (default: a fresh Rng). */
  random?: () => number;
}

export class ManagerCertificates {
  private readonly o: ManagerCertificatesOptions;
  private readonly scheduler: RenewalScheduler;
  private certPem: string;
  private keyPem: string;
  private caVersion: number;
  private unwatch: (() => void) | undefined;

  constructor(options: ManagerCertificatesOptions) {
    this.o = options;
    this.certPem = options.initial.certPem;
    this.keyPem = options.initial.keyPem;
    this.caVersion = this.cluster().caVersion ?? 0;
    const rng = createRng();
    this.scheduler = new RenewalScheduler({
      clock: options.clock,
      random: options.random ?? (() => rng.next()),
      renew: (reason) => this.renew(reason),
      onError: (err, retryMs) => options.logger.warn({ err, retryMs }, "cannot renew the manager's certificate; retrying"),
    });
  }

  /** The TLS material for the server now. */
  tls(): ServerTls {
    const c = this.cluster();
    const cross = c.caRotation && issuingRootDigest(this.certPem, [c.ca]) === c.ca.digest ? c.caRotation.crossSignedPem : '';
    return { caPem: trustBundlePem(c), certPem: `${this.certPem}${cross}`, keyPem: this.keyPem };
  }

  /** Plans the renewals and follows the cluster's roots. */
  start(): void {
    this.unwatch = this.o.control.store.watch((batch) => this.onCommit(batch));
    this.scheduler.schedule(this.certPem);
    if (!this.onCurrentRoot()) this.scheduler.renewNow();
  }

  /** Renewals that succeeded (tests, diagnostics). */
  get renewals(): number {
    return this.scheduler.renewals;
  }

  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.scheduler.close();
  }

  private cluster(): ClusterRecord {
    return this.o.control.store.view((tx) => tx.get('cluster', CLUSTER_KEY))!;
  }

  private onCurrentRoot(): boolean {
    const c = this.cluster();
    return issuingRootDigest(this.certPem, [c.ca]) === c.ca.digest;
  }

  private onCommit(batch: ChangeBatch): void {
    const change = batch.events.find((e) => e.kind === 'cluster' && e.op === 'put');
    if (!change) return;
    const version = (change.object as ClusterRecord).caVersion ?? 0;
    if (version === this.caVersion) return;
    this.caVersion = version;
    // off the commit: the listener runs inside the store's notification
    queueMicrotask(() => {
      this.o.onUpdate(this.tls());
      if (!this.onCurrentRoot()) this.scheduler.renewNow();
    });
  }

  private async renew(reason: 'schedule' | 'requested'): Promise<string> {
    const key = generateNodeKey();
    const issued = await this.o.control.issueManagerCertificate(key.publicKeyPem);
    this.certPem = issued.certPem;
    this.keyPem = key.keyPem;
    this.o.onUpdate(this.tls());
    this.o.logger.info({ reason, rootDigest: issued.rootDigest.slice(0, 12) }, "renewed the manager's certificate");
    return issued.certPem;
  }
}
