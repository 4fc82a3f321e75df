/**
 * The work queue of the benchmark's simulated controllers (./operator-sim.ts for bindings, ./jwt-sim.ts for
 * ApimJwtPolicies), shaped like the operator's: a key is queued once, a key enqueued during its own pass runs again
 * after it, per-key timers for backoff and re-checks, and a pool of workers. Time runs `timeScale` times faster:
 * delays are given unscaled. A failed pass backs off as the engine does (Retry-After, else 500 ms × 2ⁿ up to 60 s).
 */
import { isAzureError } from "../src/azure/errors.ts";

export class SimQueue {
  /** Failed passes by reason (an AzureError's kind, else the error's name; `Thrown` for a pass that threw). */
  readonly failures = new Map<string, number>();
  readonly #timeScale: number;
  readonly #pass: (key: string) => Promise<void>;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #retries = new Map<string, number>();
  /** When each key's pass in flight started (wall ms), and each pending timer's due time: for `whereIs`. */
  readonly #activeSince = new Map<string, number>();
  readonly #timerDue = new Map<string, number>();
  #wake: (() => void) | undefined;
  #running = false;
  #workers: Promise<void>[] = [];

  constructor(timeScale: number, pass: (key: string) => Promise<void>) {
    this.#timeScale = timeScale;
    this.#pass = pass;
  }

  start(concurrency: number): void {
    this.#running = true;
    for (let i = 0; i < concurrency; i++) this.#workers.push(this.#worker());
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#timerDue.clear();
    this.#wake?.();
    await Promise.all(this.#workers);
  }

  enqueue(key: string): void {
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#wake?.();
  }

  /** Enqueue after `unscaledMs` (a resync timer, a re-check or a backoff). */
  later(key: string, unscaledMs: number): void {
    const prev = this.#timers.get(key);
    if (prev) clearTimeout(prev);
    const wallMs = Math.max(0, unscaledMs / this.#timeScale);
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.#timerDue.delete(key);
      this.enqueue(key);
    }, wallMs);
    t.unref?.();
    this.#timers.set(key, t);
    this.#timerDue.set(key, Date.now() + wallMs);
  }

  /** A pass stopped by `error`: counted, and the key comes back after Retry-After or the exponential backoff. */
  failed(key: string, error: Error): void {
    const kind = isAzureError(error) ? error.kind : error.name;
    this.failures.set(kind, (this.failures.get(kind) ?? 0) + 1);
    const n = (this.#retries.get(key) ?? 0) + 1;
    this.#retries.set(key, n);
    const retryAfter = isAzureError(error) ? error.retryAfterMs : undefined;
    this.later(key, retryAfter ?? Math.min(60_000, 500 * 2 ** n));
  }

  /** A pass that ended: the backoff starts over, and the key comes back after `unscaledMs`. */
  succeeded(key: string, unscaledMs: number): void {
    this.#retries.delete(key);
    this.later(key, unscaledMs);
  }

  idle(): boolean {
    return this.#queue.length === 0 && this.#active.size === 0;
  }

  /** Where a key is: queued, in a pass since when, dirty, waiting on a timer (unscaled), or nowhere. */
  whereIs(key: string): string {
    const at: string[] = [];
    if (this.#queued.has(key)) at.push(`queued at ${this.#queue.indexOf(key)}`);
    const since = this.#activeSince.get(key);
    if (since !== undefined) at.push(`in a pass for ${Date.now() - since} ms`);
    if (this.#dirty.has(key)) at.push("dirty");
    const due = this.#timerDue.get(key);
    if (due !== undefined)
      at.push(`timer in ${(((due - Date.now()) * this.#timeScale) / 1000).toFixed(0)} s`);
    return at.length > 0 ? at.join(", ") : "nowhere";
  }

  async #worker(): Promise<void> {
    while (this.#running) {
      const key = this.#queue.shift();
      if (key === undefined) {
        await new Promise<void>((r) => {
          this.#wake = r;
          setTimeout(r, 20).unref?.();
        });
        continue;
      }
      this.#queued.delete(key);
      this.#active.add(key);
      this.#activeSince.set(key, Date.now());
      try {
        await this.#pass(key);
      } catch {
        // A thrown pass is retried like a failed one: a key must never be left without a way back to the queue.
        this.failures.set("Thrown", (this.failures.get("Thrown") ?? 0) + 1);
        this.later(key, 1000);
      } finally {
        this.#active.delete(key);
        this.#activeSince.delete(key);
        if (this.#dirty.delete(key)) this.enqueue(key);
      }
    }
  }
}
