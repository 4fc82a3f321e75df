/**
 * One controller per kind: event sources (informers) map events to keys, a work queue de-duplicates them, N workers
 * call the reconciler, and the outcome decides what happens to the key (forget, requeue after, back off, or park
 * until the generation changes).
 */
import { randomBytes } from "node:crypto";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { realClock, type Clock } from "./clock.ts";
import type { InformerHandler } from "./informer.ts";
import { silentLogger, type Logger } from "./logger.ts";
import type { ReconcileOutcome, RuntimeMetrics } from "./metrics.ts";
import {
  RetryableError,
  TerminalError,
  keyOf,
  keyToString,
  parseKey,
  type CacheReader,
  type ObjectKey,
  type ReconcileContext,
  type Reconciler,
} from "./reconciler.ts";
import { resourceId, type ResourceType } from "./resource.ts";
import { WorkQueue, type BackoffOptions } from "./workqueue.ts";

/** A cache that also tells about changes: an informer, a set of informers, or a fake in unit tests. */
export interface EventSource<T extends KubeObject = KubeObject> extends CacheReader<T> {
  on(handler: InformerHandler<T>): void;
}

/** Maps a related object to the keys of primary objects that must be reconciled when it changes. */
export type MapFunc<T extends KubeObject = KubeObject, P extends KubeObject = KubeObject> = (
  obj: Readonly<T>,
  primary: CacheReader<P>,
) => ObjectKey[];

export interface WatchSource {
  resource: ResourceType;
  source: EventSource;
  map: MapFunc;
}

/** Decides whether an event on the primary kind enqueues its key. Default: every event. */
export type Predicate<T extends KubeObject = KubeObject> = (
  type: "add" | "update" | "delete",
  obj: Readonly<T>,
  old?: Readonly<T>,
) => boolean;

/** Skips updates that change neither generation, labels, annotations, finalizers nor deletionTimestamp. */
export const specOrMetadataChanged: Predicate = (type, obj, old) => {
  if (type !== "update" || !old) return true;
  const a = obj.metadata;
  const b = old.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.annotations) !== JSON.stringify(b.annotations) ||
    JSON.stringify(a.finalizers) !== JSON.stringify(b.finalizers)
  );
};

/**
 * specOrMetadataChanged, except for the update whose only change is `finalizer` being added. The pass that adds
 * its own finalizer goes on with the object the patch returned, so that write's event would only wake a second
 * pass over the same object (issue 12: two passes per new object). Anything else changed with it still wakes one.
 */
export function specOrMetadataChangedExceptOwnFinalizer(finalizer: string): Predicate {
  return (type, obj, old) => {
    if (!specOrMetadataChanged(type, obj, old)) return false;
    if (type !== "update" || !old) return true;
    const a = obj.metadata;
    const b = old.metadata;
    const before = b.finalizers ?? [];
    const after = a.finalizers ?? [];
    const onlyOursAdded =
      !before.includes(finalizer) &&
      after.includes(finalizer) &&
      JSON.stringify(after.filter((f) => f !== finalizer)) === JSON.stringify(before) &&
      a.generation === b.generation &&
      a.deletionTimestamp === b.deletionTimestamp &&
      JSON.stringify(a.labels) === JSON.stringify(b.labels) &&
      JSON.stringify(a.annotations) === JSON.stringify(b.annotations);
    return !onlyOursAdded;
  };
}

export interface ControllerOptions<T extends KubeObject = KubeObject> extends BackoffOptions {
  /** Kind name, used in logs and as the metrics `kind` label. */
  name: string;
  resource: ResourceType;
  primary: EventSource<T>;
  reconciler: Reconciler<T>;
  watches?: WatchSource[];
  predicate?: Predicate<T>;
  /** Workers. Default 2. */
  concurrency?: number;
  /** After each successful reconcile, look again within this interval (±jitter). 0/undefined: off. */
  resyncIntervalMs?: number;
  /** Fraction of the resync interval used as jitter. Default 0.1. */
  resyncJitter?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: RuntimeMetrics;
  random?: () => number;
}

interface TerminalMark {
  generation: number | undefined;
  deletionTimestamp: string | undefined;
}

export class Controller<T extends KubeObject = KubeObject> {
  readonly name: string;
  readonly resource: ResourceType;
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly caches = new Map<string, CacheReader>();
  private readonly terminal = new Map<string, TerminalMark>();
  private readonly shutdown = new AbortController();
  private workers: Promise<void>[] = [];
  private started = false;
  private stopped = false;

  constructor(options: ControllerOptions<T>) {
    this.opts = options;
    this.name = options.name;
    this.resource = options.resource;
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? silentLogger()).child({ controller: options.name });
    this.queue = new WorkQueue({
      clock: this.clock,
      baseDelayMs: options.baseDelayMs,
      maxDelayMs: options.maxDelayMs,
      observer: options.metrics?.queueObserver(options.name),
    });
    this.caches.set(resourceId(options.resource), options.primary as CacheReader);
    const predicate = options.predicate;
    options.primary.on((type, obj, old) => {
      if (predicate && !predicate(type, obj, old)) return;
      this.queue.add(keyToString(keyOf(obj)));
    });
    for (const w of options.watches ?? []) {
      this.caches.set(resourceId(w.resource), w.source);
      w.source.on((_type, obj, old) => {
        const keys = new Set<string>();
        try {
          for (const k of w.map(obj, options.primary as CacheReader)) keys.add(keyToString(k));
          if (old) for (const k of w.map(old, options.primary as CacheReader)) keys.add(keyToString(k));
        } catch (err) {
          this.log.error({ err, watched: resourceId(w.resource) }, "watch mapping function threw");
        }
        for (const k of keys) this.queue.add(k);
      });
    }
  }

  /** Caches of every source this controller reads. */
  hasSynced(): boolean {
    return [...this.caches.values()].every((c) => c.hasSynced());
  }

  workersRunning(): boolean {
    return this.started && !this.stopped;
  }

  /** Enqueue a key by hand (e.g. from another controller or a webhook). */
  enqueue(key: ObjectKey | string): void {
    this.queue.add(typeof key === "string" ? key : keyToString(key));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const n = Math.max(1, this.opts.concurrency ?? 2);
    this.log.info({ workers: n }, "starting workers");
    for (let i = 0; i < n; i++) this.workers.push(this.worker());
  }

  /**
   * Stops taking work, waits up to `deadlineMs` for in-flight reconciles, then aborts their signal and waits for
   * them to return. Resolves true if everything finished within the deadline.
   */
  async stop(deadlineMs = 30_000): Promise<boolean> {
    if (this.stopped) return true;
    this.stopped = true;
    this.queue.shutDown();
    let timer: { cancel(): void } | undefined;
    const timedOut = await Promise.race([
      this.queue.drain().then(() => false),
      new Promise<boolean>((r) => (timer = this.clock.setTimeout(() => r(true), deadlineMs))),
    ]);
    timer?.cancel();
    if (timedOut) {
      this.log.warn(
        { inFlight: this.queue.inFlight() },
        "shutdown deadline passed; aborting in-flight reconciles",
      );
      this.shutdown.abort(new Error("controller shutdown deadline passed"));
    }
    await Promise.all(this.workers);
    return !timedOut;
  }

  /** Whether a key is parked after a TerminalError (for tests and diagnostics). */
  isTerminal(key: ObjectKey | string): boolean {
    return this.terminal.has(typeof key === "string" ? key : keyToString(key));
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } catch (err) {
        this.log.error({ err, key }, "unexpected error processing key");
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const primary = this.opts.primary;
    const obj = primary.get(key);
    const mark = this.terminal.get(key);
    if (mark) {
      if (
        obj &&
        obj.metadata.generation === mark.generation &&
        obj.metadata.deletionTimestamp === mark.deletionTimestamp
      ) {
        this.opts.metrics?.reconciled(this.name, "skipped", 0);
        return;
      }
      this.terminal.delete(key);
    }
    const reconcileId = randomBytes(6).toString("hex");
    const log = this.log.child({ key, reconcileId });
    const objectKey = parseKey(key);
    const caches = this.caches;
    const ctx: ReconcileContext<T> = {
      reconcileId,
      key: objectKey,
      log,
      signal: this.shutdown.signal,
      clock: this.clock,
      attempt: this.queue.numRequeues(key),
      object: () => primary.get(key),
      cache<U extends KubeObject>(resource: ResourceType): CacheReader<U> {
        const c = caches.get(resourceId(resource));
        if (!c) throw new Error(`controller does not watch ${resourceId(resource)}`);
        return c as unknown as CacheReader<U>;
      },
    };
    const started = this.clock.now();
    let outcome: ReconcileOutcome;
    try {
      log.debug("reconcile start");
      const result = (await this.opts.reconciler.reconcile(objectKey, ctx)) ?? {};
      this.queue.forget(key);
      outcome = result.requeueAfterMs !== undefined ? "requeue" : "success";
      const delay = this.nextLook(result.requeueAfterMs, primary.get(key) !== undefined);
      if (delay !== undefined) this.queue.addAfter(key, delay);
      log.debug({ requeueAfterMs: delay, durationMs: this.clock.now() - started }, "reconcile done");
    } catch (err) {
      if (err instanceof TerminalError) {
        outcome = "terminal";
        this.queue.forget(key);
        this.terminal.set(key, {
          generation: obj?.metadata.generation,
          deletionTimestamp: obj?.metadata.deletionTimestamp,
        });
        log.error({ err, reason: err.reason }, "reconcile failed terminally; waiting for a spec change");
      } else if (err instanceof RetryableError && err.retryAfterMs !== undefined) {
        outcome = "retry_after";
        this.queue.addRetryAfter(key, err.retryAfterMs);
        log.warn({ err, retryAfterMs: err.retryAfterMs }, "reconcile asked to retry later");
      } else {
        outcome = "error";
        const delay = this.queue.addRateLimited(key);
        // A RetryableError is an expected, classified condition (a conflict, a transient Azure error): worth a
        // warning; anything else is a bug or an unclassified failure.
        const fields = { err, retryInMs: delay, attempt: this.queue.numRequeues(key) };
        if (err instanceof RetryableError) log.warn(fields, "reconcile will be retried; backing off");
        else log.error(fields, "reconcile failed; backing off");
      }
    }
    this.opts.metrics?.reconciled(this.name, outcome, this.clock.now() - started);
  }

  private nextLook(requeueAfterMs: number | undefined, exists: boolean): number | undefined {
    const resync = this.opts.resyncIntervalMs;
    let delay = requeueAfterMs;
    if (resync && resync > 0 && exists) {
      const jitter = this.opts.resyncJitter ?? 0.1;
      const rnd = (this.opts.random ?? Math.random)();
      const jittered = Math.round(resync * (1 - jitter + 2 * jitter * rnd));
      delay = delay === undefined ? jittered : Math.min(delay, jittered);
    }
    return delay;
  }
}
