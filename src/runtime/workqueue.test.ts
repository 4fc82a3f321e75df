import { describe, expect, it } from "vitest";
import { FakeClock, flushMicrotasks } from "./clock.ts";
import { WorkQueue } from "./workqueue.ts";

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
