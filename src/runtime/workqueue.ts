/**
 * A rate-limited, de-duplicating work queue with client-go / controller-runtime semantics:
 *
 * - a key waits in the queue at most once (adds while it waits are merged);
 * - a key is handed to at most one worker at a time;
 * - a key added while a worker holds it is marked dirty and queued again when that worker calls `done`;
 * - `addRateLimited` delays by a per-key exponential backoff that `forget` resets;
 * - `addAfter` delays a key (RequeueAfter, Retry-After); the earliest pending time wins;
 * - `shutDown` stops handing out work; `drain` waits for the keys being processed.
 */
import { realClock, type Clock, type TimerHandle } from "./clock.ts";

export interface RateLimiter {
  /** Delay before the key's next attempt; counts the attempt. */
  when(key: string): number;
  /** Attempts counted since the last `forget`. */
  retries(key: string): number;
  forget(key: string): void;
}

export interface BackoffOptions {
  /** First delay. Default 5 ms (controller-runtime). */
  baseDelayMs?: number;
  /** Upper bound. Default 1000 s (controller-runtime's 16m40s). */
  maxDelayMs?: number;
}

export const DEFAULT_BASE_DELAY_MS = 5;
export const DEFAULT_MAX_DELAY_MS = 1_000_000;

/** base × 2^failures, capped. */
export class ExponentialBackoff implements RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long before it matters; Math.min keeps it at the cap.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** What the queue reports, so metrics stay out of the queue's logic. */
export interface QueueObserver {
  depth(depth: number): void;
  /** Time a key waited between becoming ready and being handed to a worker. */
  waited(ms: number): void;
  retried(): void;
}

export interface WorkQueueOptions extends BackoffOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  observer?: QueueObserver;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly observer: QueueObserver | undefined;
  /** Ready keys in order. Invariant: every key here is in `dirty` and not in `processing`. */
  private queue: string[] = [];
  /** Keys that need processing (queued, or added again while processing), with the time they became ready. */
  private readonly dirty = new Map<string, number>();
  private readonly processing = new Set<string>();
  /** Delayed keys: due time and the timer that will add them. */
  private readonly waiting = new Map<string, { at: number; timer: TimerHandle }>();
  /**
   * Keys the outside world asked us to leave alone until a time (Retry-After). A watch event or a change made
   * while the key was processed must not run it early: that would spend the very budget Azure asked us to save.
   */
  private readonly holds = new Map<string, number>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private drainWaiters: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.limiter = options.rateLimiter ?? new ExponentialBackoff(options);
    this.observer = options.observer;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.held(key)) return;
    if (this.dirty.has(key)) return;
    this.dirty.set(key, this.clock.now());
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** Adds the key after `delayMs`; an earlier pending add for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { at, timer });
  }

  /** Adds the key after its backoff delay and returns that delay. */
  addRateLimited(key: string): number {
    const delay = this.limiter.when(key);
    this.observer?.retried();
    this.addAfter(key, delay);
    return delay;
  }

  /**
   * Counts a retry without using the backoff delay (an explicit Retry-After), and holds the key until then: adds
   * before that time are deferred to it.
   */
  addRetryAfter(key: string, delayMs: number): void {
    this.limiter.when(key);
    this.observer?.retried();
    if (delayMs > 0) this.holds.set(key, this.clock.now() + delayMs);
    this.addAfter(key, delayMs);
  }

  /** Resets the key's backoff. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /** Next ready key, or undefined once the queue is shut down. The caller must call `done(key)`. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.shuttingDown) {
      // Changed while processing, but held by a Retry-After given during that processing: run it then, not now.
      if (this.holds.has(key) && (this.holds.get(key) ?? 0) > this.clock.now()) {
        this.dirty.delete(key);
        this.held(key);
      } else this.enqueue(key);
    }
    if (this.processing.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Ready keys not yet handed out. */
  len(): number {
    return this.queue.length;
  }

  /** Keys scheduled for later. */
  delayed(): number {
    return this.waiting.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  inFlight(): number {
    return this.processing.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops handing out work; pending `get`s resolve undefined; delayed keys are dropped. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) timer.cancel();
    this.waiting.clear();
    this.holds.clear();
    const getters = this.getters.splice(0);
    for (const g of getters) g(undefined);
    this.observer?.depth(this.queue.length);
  }

  /** Resolves when no key is being processed. */
  drain(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** True (and the add deferred to the hold's end) when the key is held; clears an expired hold. */
  private held(key: string): boolean {
    const until = this.holds.get(key);
    if (until === undefined) return false;
    const now = this.clock.now();
    if (until <= now) {
      this.holds.delete(key);
      return false;
    }
    this.addAfter(key, until - now);
    return true;
  }

  private enqueue(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.queue.push(key);
      getter(this.take());
      return;
    }
    this.queue.push(key);
    this.observer?.depth(this.queue.length);
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    const readyAt = this.dirty.get(key) ?? this.clock.now();
    this.dirty.delete(key);
    this.processing.add(key);
    this.observer?.waited(this.clock.now() - readyAt);
    this.observer?.depth(this.queue.length);
    return key;
  }
}
