import { describe, expect, it } from "vitest";
import { FakeClock, flushMicrotasks } from "./clock.ts";
import { DelayHeap, WorkQueue } from "./workqueue.ts";

interface Case {
  name: string;
  options?: { baseDelayMs?: number; maxDelayMs?: number };
  run(q: WorkQueue, clock: FakeClock): Promise<void>;
}

async function getNow(q: WorkQueue): Promise<string | undefined | "pending"> {
  let got: string | undefined | "pending" = "pending";
  void q.get().then((k) => (got = k));
  await flushMicrotasks();
  return got;
}

const cases: Case[] = [
  {
    name: "dedupe: a key waiting in the queue is queued once",
    async run(q) {
      q.add("a");
      q.add("a");
      q.add("b");
      q.add("a");
      expect(q.len()).toBe(2);
      expect(await q.get()).toBe("a");
      expect(await q.get()).toBe("b");
      expect(q.len()).toBe(0);
    },
  },
  {
    name: "no concurrent key: a key being processed is not handed to a second worker",
    async run(q) {
      q.add("a");
      expect(await q.get()).toBe("a");
      q.add("a");
      expect(q.len()).toBe(0);
      const second = q.get();
      let got: string | undefined;
      void second.then((k) => (got = k));
      await flushMicrotasks();
      expect(got).toBeUndefined();
      q.done("a");
      expect(await second).toBe("a");
    },
  },
  {
    name: "changed while processing: processed again after done, once however many adds",
    async run(q) {
      q.add("a");
      await q.get();
      q.add("a");
      q.add("a");
      q.add("a");
      q.done("a");
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe("a");
      q.done("a");
      expect(q.len()).toBe(0);
    },
  },
  {
    name: "other keys proceed while one is processed",
    async run(q) {
      q.add("a");
      q.add("b");
      expect(await q.get()).toBe("a");
      q.add("a");
      expect(await q.get()).toBe("b");
      expect(await getNow(q)).toBe("pending");
    },
  },
  {
    name: "not changed while processing: not processed again",
    async run(q) {
      q.add("a");
      await q.get();
      q.done("a");
      expect(q.len()).toBe(0);
      expect(await getNow(q)).toBe("pending");
    },
  },
  {
    name: "backoff growth: 5 ms doubling per failure",
    async run(q) {
      const delays = [1, 2, 3, 4, 5, 6].map(() => q.addRateLimited("a"));
      expect(delays).toEqual([5, 10, 20, 40, 80, 160]);
      expect(q.numRequeues("a")).toBe(6);
    },
  },
  {
    name: "backoff: the key becomes ready only when its delay has passed",
    async run(q, clock) {
      q.addRateLimited("a");
      q.addRateLimited("a");
      q.done("a");
      // the first (5 ms) pending add wins over the second (10 ms)
      await clock.advance(4);
      expect(q.len()).toBe(0);
      await clock.advance(1);
      expect(q.len()).toBe(1);
    },
  },
  {
    name: "backoff reset on success (forget)",
    async run(q) {
      q.addRateLimited("a");
      q.addRateLimited("a");
      q.addRateLimited("a");
      q.forget("a");
      expect(q.numRequeues("a")).toBe(0);
      expect(q.addRateLimited("a")).toBe(5);
    },
  },
  {
    name: "backoff is per key",
    async run(q) {
      q.addRateLimited("a");
      q.addRateLimited("a");
      expect(q.addRateLimited("b")).toBe(5);
    },
  },
  {
    name: "cap: the delay stops growing at maxDelayMs",
    options: { maxDelayMs: 1000 },
    async run(q) {
      let last = 0;
      for (let i = 0; i < 40; i++) last = q.addRateLimited("a");
      expect(last).toBe(1000);
    },
  },
  {
    name: "default cap is about 16 minutes (1000 s)",
    async run(q) {
      let last = 0;
      for (let i = 0; i < 80; i++) last = q.addRateLimited("a");
      expect(last).toBe(1_000_000);
    },
  },
  {
    name: "requeueAfter: addAfter makes the key ready after the delay",
    async run(q, clock) {
      q.addAfter("a", 30_000);
      await clock.advance(29_999);
      expect(q.len()).toBe(0);
      await clock.advance(1);
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe("a");
    },
  },
  {
    name: "requeueAfter: the earliest pending time wins",
    async run(q, clock) {
      q.addAfter("a", 1000);
      q.addAfter("a", 5000);
      q.addAfter("a", 200);
      expect(q.delayed()).toBe(1);
      await clock.advance(200);
      expect(q.len()).toBe(1);
      await q.get();
      q.done("a");
      await clock.advance(10_000);
      expect(q.len()).toBe(0);
    },
  },
  {
    name: "requeueAfter while already queued: still one entry",
    async run(q, clock) {
      q.add("a");
      q.addAfter("a", 10);
      await clock.advance(10);
      expect(q.len()).toBe(1);
    },
  },
  {
    name: "addAfter with 0 adds at once",
    async run(q) {
      q.addAfter("a", 0);
      expect(q.len()).toBe(1);
    },
  },
  {
    name: "retry-after counts a retry but uses the given delay",
    async run(q, clock) {
      q.addRetryAfter("a", 7000);
      expect(q.numRequeues("a")).toBe(1);
      await clock.advance(6999);
      expect(q.len()).toBe(0);
      await clock.advance(1);
      expect(q.len()).toBe(1);
    },
  },
  {
    name: "retry-after holds the key: a watch event before the time is deferred to it",
    async run(q, clock) {
      q.addRetryAfter("a", 5000);
      await clock.advance(1000);
      q.add("a");
      expect(q.len()).toBe(0);
      await clock.advance(3999);
      expect(q.len()).toBe(0);
      await clock.advance(1);
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe("a");
      q.done("a");
      // The hold is over: later events run at once again.
      q.add("a");
      expect(q.len()).toBe(1);
    },
  },
  {
    name: "retry-after holds the key: a change during the throttled pass runs after the hold, not at done",
    async run(q, clock) {
      q.add("a");
      expect(await q.get()).toBe("a");
      q.add("a"); // changed while processing
      q.addRetryAfter("a", 3000); // the pass was throttled
      q.done("a");
      expect(q.len()).toBe(0);
      await clock.advance(2999);
      expect(q.len()).toBe(0);
      await clock.advance(1);
      expect(q.len()).toBe(1);
    },
  },
  {
    name: "shutdown: waiting getters get undefined, adds are ignored, delayed keys dropped",
    async run(q, clock) {
      const pending = q.get();
      q.addAfter("b", 10);
      q.shutDown();
      expect(await pending).toBeUndefined();
      q.add("a");
      expect(q.len()).toBe(0);
      expect(await q.get()).toBeUndefined();
      await clock.advance(100);
      expect(q.len()).toBe(0);
      expect(clock.pending()).toBe(0);
    },
  },
  {
    name: "shutdown: drain waits for keys being processed",
    async run(q) {
      q.add("a");
      await q.get();
      q.shutDown();
      let drained = false;
      void q.drain().then(() => (drained = true));
      await flushMicrotasks();
      expect(drained).toBe(false);
      q.done("a");
      await flushMicrotasks();
      expect(drained).toBe(true);
      expect(q.len()).toBe(0);
    },
  },
  {
    name: "delayed keys share one timer: 1,000 resyncs at distinct times hold one pending timer, and all arrive",
    async run(q, clock) {
      for (let i = 0; i < 1_000; i++) q.addAfter(`k${i}`, 60_000 + i * 7);
      expect(q.delayed()).toBe(1_000);
      expect(clock.pending()).toBe(1);
      await clock.advance(60_000 + 7_000);
      expect(q.delayed()).toBe(0);
      expect(q.len()).toBe(1_000);
      expect(await q.get()).toBe("k0");
    },
  },
];

describe("WorkQueue", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const clock = new FakeClock(1_000);
      const q = new WorkQueue({ clock, ...c.options });
      await c.run(q, clock);
    });
  }
});

describe("DelayHeap (the queue's delayed keys)", () => {
  it("fires thousands of keys in due order, ties in scheduling order, behind a single timer", async () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    const heap = new DelayHeap(clock, (k) => fired.push(k));
    // A fixed pseudo-random sequence (LCG) of delays, many of them equal.
    let x = 12345;
    const due = new Map<string, number>();
    for (let i = 0; i < 5_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const at = 1_000 + (x % 997) * 10;
      due.set(`k${i}`, at);
      heap.schedule(`k${i}`, at);
    }
    expect(heap.size).toBe(5_000);
    expect(clock.pending()).toBe(1);
    await clock.advance(10_000);
    const expected = [...due].sort((a, b) => a[1] - b[1]).map(([k]) => k); // stable sort: scheduling order
    expect(fired).toEqual(expected);
    expect(heap.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it("an earlier schedule wins, a later one is ignored, and each key fires once", async () => {
    const clock = new FakeClock(0);
    const fired: Array<[string, number]> = [];
    const heap = new DelayHeap(clock, (k) => fired.push([k, clock.now()]));
    heap.schedule("a", 500);
    heap.schedule("a", 900);
    heap.schedule("b", 800);
    heap.schedule("b", 200);
    heap.schedule("c", 300);
    await clock.advance(1_000);
    expect(fired).toEqual([
      ["b", 200],
      ["c", 300],
      ["a", 500],
    ]);
    // Scheduled again after firing: a new, independent delay.
    heap.schedule("b", 1_500);
    await clock.advance(1_000);
    expect(fired.at(-1)).toEqual(["b", 1_500]);
  });

  it("drops superseded entries when they outnumber the live ones, so moving keys earlier cannot grow it", async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const heap = new DelayHeap(clock, (k) => fired.push(k));
    for (let round = 0; round < 1_000; round++)
      for (const k of ["a", "b"]) heap.schedule(k, 1_000_000 - round);
    expect(heap.size).toBe(2);
    const entries = (heap as unknown as { keys: string[] }).keys.length;
    expect(entries).toBeLessThanOrEqual(3 * 2 + 64);
    await clock.advance(1_000_000);
    expect(fired.sort()).toEqual(["a", "b"]);
  });

  it("clear drops every key and the timer", async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const heap = new DelayHeap(clock, (k) => fired.push(k));
    heap.schedule("a", 10);
    heap.clear();
    expect(clock.pending()).toBe(0);
    await clock.advance(100);
    expect(fired).toEqual([]);
  });
});
