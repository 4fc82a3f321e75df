/**
 * The client-side request budget: one token bucket per (subscription, ARM operation kind) and one per Graph operation
 * kind, shared by every worker, set below the published limits so the operator spends its own tokens instead of
 * learning the limit from 429s. Installed as a pipeline policy on every SDK client (../clients.ts), so no port or
 * reconciler can tell it is there: a request waits for a token, a 429 pauses its bucket for Retry-After and is sent
 * again, and only after several refusals does the AzureError reach the work queue (as a delay, never a failure).
 *
 * Published limits (the emulator enforces the ARM ones, emulator/throttle.ts):
 * - ARM, per subscription and principal since 2024: reads 250 burst / 25 per s, writes and deletes 200 burst / 10 per s
 *   (Learn "Understand how Azure Resource Manager throttles requests", request-limits-and-throttling.md; quoted in
 *   /work/shared/docs/azure-wire-facts.md §6). `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` report
 *   what is left of the same bucket, which other clients of the subscription also drain.
 * - Microsoft Graph, identity and access, per app and tenant: 3,000 writes per 2 min 30 s (20 per s) and a
 *   resource-unit quota of at least 3,500 per 10 s (Learn "Microsoft Graph service-specific throttling limits",
 *   https://learn.microsoft.com/graph/throttling-limits, "Identity and access service limits").
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { PipelinePolicy, PipelineResponse } from "@azure/core-rest-pipeline";
import { parseRetryAfter } from "../errors.ts";
import type { AzureService } from "../ports.ts";

export interface BucketSettings {
  capacity: number;
  refillPerSecond: number;
}

export interface BudgetSettings {
  armReads: BucketSettings;
  armWrites: BucketSettings;
  armDeletes: BucketSettings;
  graphReads: BucketSettings;
  graphWrites: BucketSettings;
  /** A 429 is sent again this many times (after its Retry-After) before it surfaces as AzureError Throttled. */
  maxThrottledRetries: number;
}

/** 95 % of ARM's published rates, so a second client of the subscription still has room (and Graph well below). */
export const DEFAULT_BUDGET: BudgetSettings = {
  armReads: { capacity: 240, refillPerSecond: 23.75 },
  armWrites: { capacity: 190, refillPerSecond: 9.5 },
  armDeletes: { capacity: 190, refillPerSecond: 9.5 },
  graphReads: { capacity: 300, refillPerSecond: 30 },
  graphWrites: { capacity: 200, refillPerSecond: 15 },
  maxThrottledRetries: 6,
};

/** Scales every rate (not the bursts) by `factor`: a benchmark that runs time `factor` times faster. */
export function scaledBudget(factor: number, base: BudgetSettings = DEFAULT_BUDGET): BudgetSettings {
  const s = (b: BucketSettings): BucketSettings => ({ ...b, refillPerSecond: b.refillPerSecond * factor });
  return {
    armReads: s(base.armReads),
    armWrites: s(base.armWrites),
    armDeletes: s(base.armDeletes),
    graphReads: s(base.graphReads),
    graphWrites: s(base.graphWrites),
    maxThrottledRetries: base.maxThrottledRetries,
  };
}

/**
 * `interactive`: a reconcile (a new or changed object first); `background`: inventory refreshes and safety-net
 * passes, served only when no interactive request waits for the same bucket.
 */
export type Priority = "interactive" | "background";

const priorityContext = new AsyncLocalStorage<Priority>();

/** Runs `fn` with every Azure request it makes queued at `priority`. */
export function withPriority<T>(priority: Priority, fn: () => Promise<T>): Promise<T> {
  return priorityContext.run(priority, fn);
}

export interface BudgetClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

const realBudgetClock: BudgetClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};

/** What both the DOM AbortSignal and core-rest-pipeline's AbortSignalLike offer. */
export interface SignalLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

function abortReason(signal: SignalLike): unknown {
  const r = (signal as { reason?: unknown }).reason;
  return r ?? new Error("aborted while waiting for an Azure request token");
}

interface Waiter {
  resolve(): void;
  reject(reason: unknown): void;
  signal: SignalLike | undefined;
  onAbort: (() => void) | undefined;
}

export class TokenBucket {
  readonly #settings: BucketSettings;
  readonly #clock: BudgetClock;
  #tokens: number;
  #at: number;
  #pausedUntil = 0;
  readonly #queues: Record<Priority, Waiter[]> = { interactive: [], background: [] };
  #timer: { cancel(): void } | undefined;
  /** Requests that had to wait for a token (a metric for the benchmark and /metrics). */
  waited = 0;

  constructor(settings: BucketSettings, clock: BudgetClock = realBudgetClock) {
    this.#settings = settings;
    this.#clock = clock;
    this.#tokens = settings.capacity;
    this.#at = clock.now();
  }

  /** Tokens available now (fractional), after refill. */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  take(priority: Priority = "interactive", signal?: SignalLike): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    this.#refill();
    const nobodyWaits = this.#queues.interactive.length === 0 && this.#queues.background.length === 0;
    if (nobodyWaits && this.#tokens >= 1 && this.#clock.now() >= this.#pausedUntil) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    this.waited++;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const q = this.#queues[priority];
          const i = q.indexOf(w);
          if (i >= 0) q.splice(i, 1);
          reject(abortReason(signal));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#queues[priority].push(w);
      this.#pump();
    });
  }

  /** Azure said 429: nobody in this bucket sends before `ms` have passed, and the bucket starts empty then. */
  pauseFor(ms: number): void {
    this.#refill();
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + ms);
    this.#tokens = 0;
    this.#schedule();
  }

  /** Azure reported `remaining` tokens in its own bucket: never believe we hold more than that. */
  clamp(remaining: number): void {
    this.#refill();
    if (remaining < this.#tokens) this.#tokens = Math.max(0, remaining);
  }

  #refill(): void {
    const now = this.#clock.now();
    const from = Math.max(this.#at, Math.min(now, this.#pausedUntil));
    if (now > from)
      this.#tokens = Math.min(
        this.#settings.capacity,
        this.#tokens + ((now - from) / 1000) * this.#settings.refillPerSecond,
      );
    this.#at = now;
  }

  #pump(): void {
    this.#refill();
    const now = this.#clock.now();
    while (now >= this.#pausedUntil && this.#tokens >= 1) {
      const w = this.#queues.interactive.shift() ?? this.#queues.background.shift();
      if (!w) break;
      this.#tokens -= 1;
      if (w.signal && w.onAbort) w.signal.removeEventListener("abort", w.onAbort);
      w.resolve();
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) return;
    if (this.#queues.interactive.length === 0 && this.#queues.background.length === 0) return;
    const now = this.#clock.now();
    const untilToken = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / this.#settings.refillPerSecond) * 1000;
    const wait = Math.max(this.#pausedUntil - now, 0) + untilToken;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#pump();
      },
      Math.max(1, Math.ceil(wait)),
    );
  }
}

type Operation = "reads" | "writes" | "deletes";

function operationOf(method: string): Operation {
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD") return "reads";
  return m === "DELETE" ? "deletes" : "writes";
}

const SUBSCRIPTION_IN_PATH = /\/subscriptions\/([0-9a-f-]{36})(?:\/|$)/i;

/** Every bucket of one operator process; hand one instance to createAzurePorts. */
export class AzureBudget {
  readonly settings: BudgetSettings;
  readonly #clock: BudgetClock;
  readonly #buckets = new Map<string, TokenBucket>();
  /** 429s Azure returned and the budget absorbed (sent again), and those it had to pass on. */
  throttled = { absorbed: 0, surfaced: 0 };

  constructor(settings: Partial<BudgetSettings> = {}, clock: BudgetClock = realBudgetClock) {
    this.settings = { ...DEFAULT_BUDGET, ...settings };
    this.#clock = clock;
  }

  /** ARM buckets are per subscription (the URL names it); Graph has one per operation kind for the tenant. */
  bucketFor(service: AzureService, url: string, method: string): TokenBucket {
    const op = operationOf(method);
    let id: string;
    let settings: BucketSettings;
    if (service === "graph") {
      id = `graph:${op === "reads" ? "reads" : "writes"}`;
      settings = op === "reads" ? this.settings.graphReads : this.settings.graphWrites;
    } else {
      const sub = SUBSCRIPTION_IN_PATH.exec(new URL(url).pathname)?.[1]?.toLowerCase() ?? "tenant";
      id = `arm:${sub}:${op}`;
      settings =
        op === "reads"
          ? this.settings.armReads
          : op === "writes"
            ? this.settings.armWrites
            : this.settings.armDeletes;
    }
    let b = this.#buckets.get(id);
    if (!b) {
      b = new TokenBucket(settings, this.#clock);
      this.#buckets.set(id, b);
    }
    return b;
  }

  /**
   * Every bucket as /metrics shows it: `scope` the subscription (or "tenant" for ARM calls without one, "graph"),
   * `kind` read / write / delete for ARM and graph_read / graph_write for Graph.
   */
  snapshot(): { scope: string; kind: string; tokens: number; waited: number }[] {
    const kindOf: Record<string, string> = { reads: "read", writes: "write", deletes: "delete" };
    return [...this.#buckets].map(([id, b]) => {
      const [service, a, c] = id.split(":");
      const graph = service === "graph";
      return {
        scope: graph ? "graph" : a!,
        kind: graph ? `graph_${a === "reads" ? "read" : "write"}` : kindOf[c!]!,
        tokens: b.available(),
        waited: b.waited,
      };
    });
  }

  /** Requests that waited for a token, summed over buckets. */
  waited(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.waited;
    return n;
  }

  #sleep(ms: number, signal: SignalLike | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const t = this.#clock.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        t.cancel();
        reject(signal ? abortReason(signal) : undefined);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** The pipeline policy; add it after the retry phase and before the call observer, so each try is observed. */
  policy(service: AzureService): PipelinePolicy {
    return {
      name: "laioBudget",
      sendRequest: async (request, next) => {
        const bucket = this.bucketFor(service, request.url, request.method);
        const priority = priorityContext.getStore() ?? "interactive";
        for (let attempt = 0; ; attempt++) {
          await bucket.take(priority, request.abortSignal);
          const response: PipelineResponse = await next(request);
          const remaining = remainingHeader(response, operationOf(request.method));
          if (remaining !== undefined) bucket.clamp(remaining);
          if (response.status !== 429) return response;
          const retryAfterMs = parseRetryAfter(response.headers, this.#clock.now()) ?? 1000;
          bucket.pauseFor(retryAfterMs);
          if (attempt >= this.settings.maxThrottledRetries) {
            this.throttled.surfaced++;
            return response;
          }
          this.throttled.absorbed++;
          // The pause already holds every other request of this bucket; this one waits its Retry-After too and
          // then queues for a token like the rest, so a throttled subscription drains in order, not in a storm.
          await this.#sleep(retryAfterMs, request.abortSignal);
        }
      },
    };
  }
}

function remainingHeader(response: PipelineResponse, op: Operation): number | undefined {
  const v = response.headers.get(`x-ms-ratelimit-remaining-subscription-${op}`);
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}
