/**
 * events.k8s.io/v1 Events for what a person wants in `kubectl describe`, with the two protections client-go's
 * recorder has: repeats of the same (object, type, reason, note) within a window update one Event's `series`
 * instead of creating new objects, and a per-object token bucket drops writes when a loop misbehaves.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { realClock, type Clock, type TimerHandle } from "./clock.ts";
import { isNotFound, MERGE_PATCH, type KubeClient } from "./client.ts";
import { silentLogger, type Logger } from "./logger.ts";
import type { ResourceType } from "./resource.ts";

export const EVENT: ResourceType = {
  group: "events.k8s.io",
  version: "v1",
  plural: "events",
  kind: "Event",
  namespaced: true,
};

export type EventType = "Normal" | "Warning";

export interface EventInput {
  type: EventType;
  /** CamelCase, machine-readable: Granted, Revoked, Healed, DriftRepaired, Throttled, Rejected, DeletionBlocked. */
  reason: string;
  /** Human-readable; at most 1 kB is kept. */
  note: string;
  /** What the controller did or failed to do, e.g. "Grant", "Revoke". Defaults to the reason. */
  action?: string;
}

/** What other layers need to emit events (injectable, fake in tests). */
export interface EventSink {
  record(obj: Readonly<KubeObject>, event: EventInput): void;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** reportingController, e.g. identity.logicapp.dev/operator. */
  controller: string;
  /** reportingInstance, e.g. the pod name. */
  instance: string;
  clock?: Clock;
  logger?: Logger;
  /** Repeats within this window join one Event's series. Default 10 min. */
  dedupeWindowMs?: number;
  /** Series updates for one Event are written at most this often. Default 5 s. */
  seriesFlushMs?: number;
  /** Per-object token bucket: burst, and one token back per refillMs. Defaults 25 and 5 min (client-go's). */
  burst?: number;
  refillMs?: number;
  /**
   * Series and buckets kept at most (the least recently used go first), as client-go's correlator keeps an LRU of
   * 4096: one per object ever seen would grow with the cluster. Default 4096.
   */
  maxEntries?: number;
}

interface SeriesEntry {
  name: string;
  namespace: string;
  count: number;
  lastAt: number;
  writtenCount: number;
  timer: TimerHandle | undefined;
  /** The create in flight, then whether it succeeded (a settled Promise per series is 48 bytes kept for nothing). */
  created: Promise<boolean> | boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class EventRecorder implements EventSink {
  private readonly o: EventRecorderOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly series = new Map<string, SeriesEntry>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly pending = new Set<Promise<unknown>>();
  private prunedAt = Number.NEGATIVE_INFINITY;
  /** Dropped by the rate limit, for tests and diagnostics. */
  dropped = 0;

  constructor(options: EventRecorderOptions) {
    this.o = options;
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? silentLogger()).child({ component: "events" });
  }

  /** Series and rate-limit buckets held (tests, diagnostics). */
  get held(): { series: number; buckets: number } {
    return { series: this.series.size, buckets: this.buckets.size };
  }

  record(obj: Readonly<KubeObject>, event: EventInput): void {
    const now = this.clock.now();
    this.prune(now);
    const uid = obj.metadata.uid ?? `${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
    const note = event.note.length > 1024 ? `${event.note.slice(0, 1021)}...` : event.note;
    const seriesKey = seriesKeyOf(uid, event.type, event.reason, note);
    const existing = this.series.get(seriesKey);
    if (existing && now - existing.lastAt <= (this.o.dedupeWindowMs ?? 600_000)) {
      existing.count++;
      existing.lastAt = now;
      // Most recently used last: the bound evicts from the front.
      this.series.delete(seriesKey);
      this.series.set(seriesKey, existing);
      this.scheduleSeriesWrite(existing);
      return;
    }
    if (!this.take(uid, now)) {
      this.dropped++;
      this.log.debug({ reason: event.reason, object: obj.metadata.name }, "event dropped by rate limit");
      return;
    }
    const namespace = obj.metadata.namespace ?? "default";
    const name = [obj.metadata.name, ".", now.toString(16), randomBytes(2).toString("hex")]
      .join("")
      .slice(0, 253);
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name, namespace },
      eventTime: new Date(now).toISOString().replace(/Z$/, "000Z"),
      reportingController: this.o.controller,
      reportingInstance: this.o.instance.slice(0, 128),
      action: (event.action ?? event.reason).slice(0, 128),
      reason: event.reason.slice(0, 128),
      note,
      type: event.type,
      regarding: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
    };
    const created = this.track(
      this.o.client.create(EVENT, namespace, body).then(
        () => true,
        (err: unknown) => {
          this.log.warn({ err, reason: event.reason }, "could not create Event");
          return false;
        },
      ),
    );
    const entry: SeriesEntry = {
      name,
      namespace,
      count: 1,
      lastAt: now,
      writtenCount: 1,
      timer: undefined,
      created,
    };
    void created.then((ok) => (entry.created = ok));
    this.series.set(seriesKey, entry);
    this.bound();
  }

  /** Past maxEntries, the least recently used go; a series with a pending update is written first. */
  private bound(): void {
    const max = this.o.maxEntries ?? 4096;
    for (const [k, e] of this.series) {
      if (this.series.size <= max) break;
      if (e.timer) {
        e.timer.cancel();
        e.timer = undefined;
        this.writeSeries(e);
      }
      this.series.delete(k);
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= max) break;
      this.buckets.delete(k);
    }
  }

  /** Resolves when every write started so far has finished (tests, shutdown). */
  async flush(): Promise<void> {
    for (const e of this.series.values()) {
      if (e.timer) {
        e.timer.cancel();
        e.timer = undefined;
        this.writeSeries(e);
      }
    }
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private scheduleSeriesWrite(e: SeriesEntry): void {
    if (e.timer) return;
    e.timer = this.clock.setTimeout(() => {
      e.timer = undefined;
      this.writeSeries(e);
    }, this.o.seriesFlushMs ?? 5_000);
  }

  private writeSeries(e: SeriesEntry): void {
    if (e.count === e.writtenCount) return;
    const count = e.count;
    const lastObservedTime = new Date(e.lastAt).toISOString().replace(/Z$/, "000Z");
    this.track(
      Promise.resolve(e.created).then(async (ok) => {
        if (!ok) return;
        try {
          await this.o.client.patch(
            EVENT,
            { namespace: e.namespace, name: e.name },
            { series: { count, lastObservedTime } },
            MERGE_PATCH,
          );
          e.writtenCount = count;
        } catch (err) {
          if (!isNotFound(err)) this.log.warn({ err }, "could not update Event series");
        }
      }),
    );
  }

  private take(uid: string, now: number): boolean {
    const burst = this.o.burst ?? 25;
    const refill = this.o.refillMs ?? 300_000;
    const b = this.buckets.get(uid) ?? { tokens: burst, at: now };
    const earned = Math.floor((now - b.at) / refill);
    if (earned > 0) {
      b.tokens = Math.min(burst, b.tokens + earned);
      b.at += earned * refill;
    }
    if (b.tokens >= burst) b.at = now;
    this.buckets.delete(uid);
    this.buckets.set(uid, b);
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }

  /**
   * Drops series past the dedupe window and buckets refilled to the burst (the same as no bucket). At most once
   * a minute: a sweep per record would cost O(objects) on every Event, O(objects²) on a first pass over them all.
   */
  private prune(now: number): void {
    if (now - this.prunedAt < 60_000) return;
    this.prunedAt = now;
    const window = this.o.dedupeWindowMs ?? 600_000;
    for (const [k, e] of this.series) {
      if (now - e.lastAt > window && !e.timer) this.series.delete(k);
    }
    const burst = this.o.burst ?? 25;
    const refill = this.o.refillMs ?? 300_000;
    for (const [k, b] of this.buckets) {
      if (b.tokens + Math.floor((now - b.at) / refill) >= burst) this.buckets.delete(k);
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }
}

/**
 * The dedupe key of a series: object, type, reason and a digest of the note. The note itself (up to 1 kB, and a
 * denial message names the Logic App, so every object's is its own) was the largest part of a series entry, kept
 * for 10 minutes for up to 4,096 objects; `join` gives one flat string where a template literal keeps its parts as
 * a chain of concatenations (docs/benchmarks.md, memory).
 */
function seriesKeyOf(uid: string, type: string, reason: string, note: string): string {
  return [uid, type, reason, createHash("sha256").update(note).digest("base64url").slice(0, 22)].join("|");
}
