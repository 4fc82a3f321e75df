/**
 * The bench's request counter against the emulator's request log, which keeps only its last 20,000 entries: counts
 * must not stop at the cap (a 5,000-binding cold start sends far more), and entries trimmed before they were read
 * must fail the benchmark, not shrink its figures.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../../emulator/index.ts";
import { RequestCounter } from "../../bench/operator-sim.ts";

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});

/** Requests as the emulator's server records them: ARM writes in `sub`, or Graph reads. */
function record(n: number, kind: "arm-write" | "graph-read", sub = "s1"): void {
  for (let i = 0; i < n; i++)
    emu.runtime.log.add({
      time: new Date().toISOString(),
      api: kind === "arm-write" ? "arm" : "graph",
      method: kind === "arm-write" ? "PUT" : "GET",
      path: "/x",
      query: "",
      operation: "x",
      status: 200,
      outcome: "response",
      durationMs: 1,
      ...(kind === "arm-write" ? { subscriptionId: sub } : {}),
    });
}

describe("RequestCounter", () => {
  it("counts past the emulator's 20,000-entry log when drained in time", async () => {
    const counter = await RequestCounter.start(emu, 3_600_000);
    try {
      record(15_000, "arm-write", "s1");
      expect((await counter.counts()).armWrites).toBe(15_000);
      record(10_000, "arm-write", "s2");
      record(5_000, "graph-read");
      const c = await counter.counts();
      expect(c).toMatchObject({ total: 30_000, armWrites: 25_000, graphReads: 5_000, throttled: 0 });
      // The floor is per subscription: (15,000 − 200) ÷ 10.
      expect(await counter.writeFloorSeconds()).toBe(1_480);
      await counter.restart();
      record(3, "graph-read");
      expect(await counter.counts()).toMatchObject({ total: 3, armWrites: 0, graphReads: 3 });
      expect(await counter.writeFloorSeconds()).toBe(0);
    } finally {
      counter.stop();
    }
  });

  it("fails when entries were trimmed before they were counted", async () => {
    const counter = await RequestCounter.start(emu, 3_600_000);
    try {
      record(1, "graph-read");
      await counter.counts();
      record(25_000, "graph-read");
      await expect(counter.counts()).rejects.toThrow(/dropped entries/);
    } finally {
      counter.stop();
    }
  });
});
