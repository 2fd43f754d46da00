/**
 * OverlaySyncer: one sync = plan, read, diff, apply, for the agent's SyncRunner to call.
 *
 * A full sync reads every namespace of ours and the host's objects. An incremental sync
 * (full = false) reads only the namespaces whose desired part changed since the last sync
 * that applied without a failure (their canonical text is kept per namespace), plus the
 * namespace list; so one remote endpoint added costs the dumps of one overlay namespace.
 * After a sync with any failure, or before the first, every sync is full until one
 * succeeds: the full sync is the correctness path and must end where an incremental one
 * would (a unit test compares the two).
 *
 * sync() and doctor() never overlap: each waits for the one before it, because both use
 * the kernel handles the adapter keeps until release().
 */
import { ShoalError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { readOverlayActual } from './actual.ts';
import { applyOverlay, type ApplyReport, type FailedOp } from './applier.ts';
import { diffOverlay, type OverlayChange } from './diff.ts';
import type { OverlayModel } from './model.ts';
import { netnsLabel, nsDesiredLines, type OverlayDesired } from './objects.ts';
import type { OverlayKernel } from './overlay-kernel.ts';
import { planOverlay } from './plan.ts';

export interface OverlaySyncerOptions {
  /** The node's prefix; every model given to sync() must carry the same one. */
  prefix: string;
  logger?: Logger;
}

export interface SyncReport extends ApplyReport {
  /** The sync read everything (asked for, or forced by the last sync's failure). */
  full: boolean;
  /** Namespaces whose contents were read ('' counts as one). */
  namespacesRead: number;
  /** Time spent reading the namespaces (the rest of durationMs is planning and applying). */
  readMs: number;
}

/** A sync slower than this logs its slowest changes. */
const SLOW_SYNC_MS = 250;

/** Most failures listed in one log line. */
const LOGGED_FAILURES = 20;

export class OverlaySyncer {
  readonly #k: OverlayKernel;
  readonly #prefix: string;
  readonly #logger: Logger;
  /** Namespace -> its desired text at the last sync without failures; undefined = next sync is full. */
  #last: Map<string, string> | undefined;
  /** The host's desired nftables tables at the last sync without failures (what the kernel has since). */
  #lastNft: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #lastProblems = '[]';

  constructor(k: OverlayKernel, opts: OverlaySyncerOptions) {
    this.#k = k;
    this.#prefix = opts.prefix;
    this.#logger = opts.logger ?? silentLogger;
  }

  /** Brings the kernel to the model's state and reports what it did. */
  sync(model: OverlayModel, full: boolean): Promise<SyncReport> {
    return this.#serial(() => this.#sync(model, full));
  }

  /** The changes a full sync would make now, without making them. */
  doctor(model: OverlayModel): Promise<OverlayChange[]> {
    return this.#serial(async () => {
      const desired = this.#plan(model);
      try {
        return diffOverlay(desired, await readOverlayActual(this.#k, this.#prefix));
      } finally {
        this.#k.release();
      }
    });
  }

  /** Forgets what the last sync applied: the next sync is a full one. */
  invalidate(): void {
    this.#last = undefined;
    this.#lastNft = undefined;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #plan(model: OverlayModel): OverlayDesired {
    if (model.prefix !== this.#prefix) {
      throw new ShoalError(
        'SHOAL_ERR_INVALID_ARGUMENT',
        `overlay model prefix ${JSON.stringify(model.prefix)} is not this syncer's ${JSON.stringify(this.#prefix)}`,
      );
    }
    return planOverlay(model);
  }

  async #sync(model: OverlayModel, fullAsked: boolean): Promise<SyncReport> {
    const started = performance.now();
    const desired = this.#plan(model);
    const texts = new Map<string, string>();
    for (const [name, ns] of desired.namespaces) texts.set(name, nsDesiredLines(ns).join('\n'));
    const last = this.#last;
    const full = fullAsked || last === undefined;
    let only: Set<string> | undefined;
    if (!full) {
      only = new Set();
      for (const [name, text] of texts) if (last.get(name) !== text) only.add(name);
      for (const name of last.keys()) if (!texts.has(name)) only.add(name);
    }
    const hostNft = desired.namespaces.get('')?.nft ?? [];
    const nftText = JSON.stringify(hostNft.map((t) => [t.family, t.name, t.canonical]));
    const knownHost =
      !full && this.#lastNft === nftText
        ? { nft: hostNft.map((t) => ({ family: t.family, name: t.name, canonical: t.canonical })) }
        : undefined;
    this.#last = undefined; // until this sync is known to have succeeded
    this.#lastNft = undefined;
    let report: SyncReport;
    try {
      const readStarted = performance.now();
      const actual = await readOverlayActual(this.#k, this.#prefix, only, knownHost);
      const readMs = performance.now() - readStarted;
      const changes = diffOverlay(desired, actual);
      const applied = await applyOverlay(this.#k, changes);
      const readFailures: FailedOp[] = actual.errors.map(({ netns, error }) => ({
        kind: 'change',
        type: 'netns',
        netns,
        key: `netns ${netnsLabel(netns)}`,
        text: `read ${netnsLabel(netns)}`,
        code: error.code,
        message: error.message,
        ...(error.errno !== undefined ? { errno: error.errno } : {}),
      }));
      report = {
        ...applied,
        failures: [...readFailures, ...applied.failures],
        problems: desired.problems,
        full,
        namespacesRead: actual.read.size,
        readMs,
        durationMs: performance.now() - started,
      };
    } finally {
      this.#k.release();
    }
    if (report.failures.length === 0) {
      this.#last = texts;
      this.#lastNft = nftText;
    }
    this.#log(report);
    return report;
  }

  #log(r: SyncReport): void {
    const summary = {
      full: r.full,
      namespacesRead: r.namespacesRead,
      applied: r.applied.length,
      failures: r.failures.length,
      problems: r.problems.length,
      durationMs: Math.round(r.durationMs * 10) / 10,
      readMs: Math.round(r.readMs * 10) / 10,
      ...(r.durationMs >= SLOW_SYNC_MS && r.slowest.length > 0
        ? { slowest: r.slowest.map((o) => `${o.kind} ${netnsLabel(o.netns)} ${o.text}: ${o.ms} ms`) }
        : {}),
    };
    if (r.failures.length > 0) {
      this.#logger.warn(
        {
          ...summary,
          failed: r.failures
            .slice(0, LOGGED_FAILURES)
            .map((f) => `${f.kind} ${netnsLabel(f.netns)} ${f.text}: ${f.code}${f.errno ? ` (${f.errno})` : ''}`),
        },
        'overlay sync left failures; the next sync is full',
      );
    } else if (r.applied.length > 0) {
      this.#logger.info(summary, 'overlay sync applied changes');
    } else {
      this.#logger.debug(summary, 'overlay sync: nothing to change');
    }
    // The same problems come back every sync until the model changes: logged when they change.
    const problems = JSON.stringify(r.problems);
    if (problems !== this.#lastProblems) {
      this.#lastProblems = problems;
      if (r.problems.length > 0) this.#logger.warn({ problems: r.problems.slice(0, LOGGED_FAILURES) }, 'overlay model items left out');
      else this.#logger.info({}, 'overlay model: every item planned again');
    }
  }
}

/** A ShoalError summarising a report's failures (for a SyncRunner's sync function to throw), or undefined. */
export function syncFailure(report: ApplyReport): ShoalError | undefined {
  if (report.failures.length === 0) return undefined;
  const first = report.failures[0]!;
  return new ShoalError(
    'SHOAL_ERR_SYNC_FAILED',
    `overlay sync: ${report.failures.length} change(s) failed, first: ${first.kind} ${netnsLabel(first.netns)} ${first.text}: ${first.message}`,
    { details: { failures: report.failures.slice(0, LOGGED_FAILURES) }, ...(first.errno !== undefined ? { errno: first.errno } : {}) },
  );
}
