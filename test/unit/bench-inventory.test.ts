/**
 * The CI version of `npm run bench`'s inventory table, so the benchmark cannot rot: counts only, never times.
 * Through the simulated operator (bench/operator-sim.ts) against the emulator with ARM throttling on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../../emulator/index.ts";
import { runScenario, type ScenarioResult } from "../../bench/operator-sim.ts";

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});

const run = (bindings: number, heal = false): Promise<ScenarioResult> =>
  runScenario(emu, {
    mode: "inventory",
    bindings,
    subscriptions: 1,
    timeScale: 50,
    concurrency: 16,
    heal,
    steadyMinutes: 1,
    countPass: true,
  });

describe("inventory benchmark (counts)", () => {
  it("steady state writes nothing, and its reads do not grow with the number of bindings", async () => {
    const small = await run(50);
    const large = await run(150);
    for (const r of [small, large]) {
      // Cold start: the minimum writes (identity PUT + 2 role assignments, 1 app-role grant) plus at most 2 reads.
      expect(r.coldStart.armWrites).toBe(3 * r.bindings);
      expect(r.coldStart.graphWrites).toBe(r.bindings);
      expect(r.coldStart.armReads + r.coldStart.graphReads).toBeLessThanOrEqual(2 * r.bindings);
      expect(r.throttledObjects).toBe(0);
      expect(r.writesPerHour).toBe(0);
      expect(r.steady.armWrites + r.steady.graphWrites).toBe(0);
      // A pass over every binding (what a resync costs) is served from the inventory: no request at all.
      expect(r.pass?.total).toBe(0);
    }
    // One refresh: workflows + sites + role assignments of the subscription, the API's assignments, its SP.
    expect(large.refresh.armReads).toBe(small.refresh.armReads);
    expect(large.refresh.armReads).toBe(3);
    // Graph pages grow with assignments ÷ 999 ($top), not with passes: 150 assignments, past Graph's default page
    // of 100, are still one page (the API's SP lookup + one appRoleAssignedTo list).
    expect(large.refresh.graphReads).toBe(small.refresh.graphReads);
    expect(large.refresh.graphReads).toBe(2);
  });

  it("a heal ends with Azure healed: grants on the new principals, none on the old, pinned APIM rules following", async () => {
    // No time is asserted: the run only ends once the emulator holds the healed state for every victim (or throws).
    const r = await run(30, true);
    expect(r.heal?.victims).toBe(3);
    expect(r.heal?.seconds).toHaveLength(3);
    expect(r.heal?.apimSeconds).toHaveLength(3);
    expect(r.heal?.orphansLeft).toBe(0);
    expect(r.throttledObjects).toBe(0);
  });
});
