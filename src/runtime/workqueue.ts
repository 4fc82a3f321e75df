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
  /** Delayed keys and their due times, with one timer for all of them (`DelayHeap`). */
  private readonly waiting: DelayHeap;
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
    this.waiting = new DelayHeap(this.clock, (key) => this.add(key));
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
    this.waiting.schedule(key, this.clock.now() + delayMs);
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

/**
 * Delayed keys, due earliest first, behind one timer: client-go's delaying queue keeps a priority queue of
 * "wait for" entries and one timer, not a timer per key. A timer per key cost ≈ 500 bytes each (a Timeout, its
 * TimersList — one per distinct duration, and jittered resyncs are all distinct —, two closures and their
 * contexts), 5 MB of heap with 10,000 objects waiting on their resync (docs/benchmarks.md, memory).
 *
 * A binary min-heap over parallel arrays (due time, insertion order, key), ordered by due time and then by order of
 * scheduling, so keys due at the same time are added in the order they were scheduled, as separate timers did.
 * A key scheduled earlier than it already was gets a new entry; the old one is skipped when it surfaces (its due
 * time no longer matches the key's), and the heap is rebuilt when such stale entries outnumber the live ones.
 */
export class DelayHeap {
  private readonly clock: Clock;
  private readonly fire: (key: string) => void;
  /** Each delayed key's due time: the one entry of the heap that counts for it. */
  private readonly due = new Map<string, number>();
  private at: number[] = [];
  private seq: number[] = [];
  private keys: string[] = [];
  private nextSeq = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(clock: Clock, fire: (key: string) => void) {
    this.clock = clock;
    this.fire = fire;
  }

  get size(): number {
    return this.due.size;
  }

  /** Schedules `key` at `at` unless it is already due no later than that. */
  schedule(key: string, at: number): void {
    const existing = this.due.get(key);
    if (existing !== undefined && existing <= at) return;
    this.due.set(key, at);
    this.push(at, this.nextSeq++, key);
    if (this.keys.length > 64 && this.keys.length > 3 * this.due.size) this.rebuild();
    this.arm();
  }

  clear(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.due.clear();
    this.at = [];
    this.seq = [];
    this.keys = [];
  }

  private arm(): void {
    const next = this.at[0];
    if (next === undefined || next >= this.timerAt) return;
    this.timer?.cancel();
    this.timerAt = next;
    // Node's timers overflow past 2^31 - 1 ms (they fire at once): wait at most that long, then look again.
    this.timer = this.clock.setTimeout(() => this.onTimer(), Math.min(next - this.clock.now(), 2 ** 31 - 1));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    while (this.keys.length > 0 && this.at[0]! <= now) {
      const at = this.at[0]!;
      const key = this.pop();
      if (this.due.get(key) !== at) continue; // superseded by an earlier schedule
      this.due.delete(key);
      this.fire(key);
    }
    this.arm();
  }

  private less(i: number, j: number): boolean {
    const a = this.at[i]!;
    const b = this.at[j]!;
    return a < b || (a === b && this.seq[i]! < this.seq[j]!);
  }

  private swap(i: number, j: number): void {
    [this.at[i], this.at[j]] = [this.at[j]!, this.at[i]!];
    [this.seq[i], this.seq[j]] = [this.seq[j]!, this.seq[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }

  private push(at: number, seq: number, key: string): void {
    this.at.push(at);
    this.seq.push(seq);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): string {
    const key = this.keys[0]!;
    const last = this.keys.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.seq.pop();
    this.keys.pop();
    this.siftDown(0);
    return key;
  }

  private siftDown(start: number): void {
    const n = this.keys.length;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  /** Keeps only the entries that still count, in heap order. */
  private rebuild(): void {
    const live: Array<[number, number, string]> = [];
    for (let i = 0; i < this.keys.length; i++)
      if (this.due.get(this.keys[i]!) === this.at[i]) live.push([this.at[i]!, this.seq[i]!, this.keys[i]!]);
    this.at = live.map((e) => e[0]);
    this.seq = live.map((e) => e[1]);
    this.keys = live.map((e) => e[2]);
    for (let i = (this.keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }
}
