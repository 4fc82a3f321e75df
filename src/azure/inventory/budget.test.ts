import { describe, expect, it } from "vitest";
import { TokenBucket, type BudgetClock } from "./budget.ts";

/** A hand-driven clock: timers fire only when the test advances time. */
function manualClock(): BudgetClock & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return { cancel: () => (timers = timers.filter((x) => x !== t)) };
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("TokenBucket", () => {
  it("grants the burst at once, then exactly the refill rate", async () => {
    const clock = manualClock();
    const b = new TokenBucket({ capacity: 5, refillPerSecond: 2 }, clock);
    let granted = 0;
    for (let i = 0; i < 11; i++) void b.take().then(() => granted++);
    await flush();
    expect(granted).toBe(5);
    clock.advance(1000);
    await flush();
    expect(granted).toBe(7);
    clock.advance(2000);
    await flush();
    expect(granted).toBe(11);
  });

  it("serves interactive requests before background ones that waited longer", async () => {
    const clock = manualClock();
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, clock);
    await b.take();
    const order: string[] = [];
    void b.take("background").then(() => order.push("refresh-1"));
    void b.take("background").then(() => order.push("refresh-2"));
    void b.take("interactive").then(() => order.push("new-binding"));
    clock.advance(1000);
    await flush();
    clock.advance(1000);
    await flush();
    clock.advance(1000);
    await flush();
    expect(order).toEqual(["new-binding", "refresh-1", "refresh-2"]);
  });

  it("a 429 holds the whole bucket for Retry-After; Azure's remaining count caps what we believe we hold", async () => {
    const clock = manualClock();
    const b = new TokenBucket({ capacity: 10, refillPerSecond: 10 }, clock);
    b.pauseFor(3000);
    let granted = 0;
    void b.take().then(() => granted++);
    clock.advance(2900);
    await flush();
    expect(granted).toBe(0);
    clock.advance(200);
    await flush();
    expect(granted).toBe(1);
    clock.advance(10_000);
    b.clamp(2);
    expect(b.available()).toBe(2);
  });

  it("an aborted wait leaves the queue", async () => {
    const clock = manualClock();
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, clock);
    await b.take();
    const ac = new AbortController();
    const p = b.take("interactive", ac.signal);
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
    let granted = false;
    void b.take().then(() => (granted = true));
    clock.advance(1000);
    await flush();
    expect(granted).toBe(true);
  });
});
