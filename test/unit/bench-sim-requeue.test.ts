/**
 * The benchmark's simulated operator (bench/operator-sim.ts) must look again at a key whose pass ran out of rounds
 * with writes pending, as the engine does (`recheckAfterMs`), instead of at its 6-hour safety-net resync: at 5,000
 * bindings it left 2 keys never Ready that way. Nothing in Azure changes for such a key (its writes did not happen),
 * so no refresh ever enqueues it either.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../../emulator/index.ts";
import { SimOperator, seedWorld } from "../../bench/operator-sim.ts";

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});

describe("simulated operator: requeue", () => {
  it("a pass that ran out of rounds with grants pending is passed again soon, and the key gets Ready", async () => {
    const world = await seedWorld(emu, 1, 1);
    const [key] = [...world.bindings.keys()];
    // Every role-assignment create of the first pass answers 409 (someone else's equal assignment, the inventory
    // believes, but a relist of the scope does not show it): 2 grants × 3 rounds, then Azure behaves.
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: {
        kind: "status",
        status: 409,
        code: "RoleAssignmentExists",
        message: "The role assignment already exists.",
      },
      count: 6,
    });
    const sim = new SimOperator(emu, world, { mode: "inventory", timeScale: 50, concurrency: 2 });
    sim.start();
    try {
      sim.enqueue(key!);
      await sim.until("the key Ready", () => sim.readyKeys.has(key!), 20_000);
      // What a stalled run prints about a key: here, Ready and waiting for its safety-net resync (6 h ± 10 %).
      expect(sim.whereIs(key!)).toMatch(
        /: timer in (19|2[0-3])\d{3} s; last pass: \{"ok":true,"healed":true,/,
      );
    } finally {
      await sim.stop();
    }
    const [first] = sim.passes;
    expect(first?.ok).toBe(true);
    expect(first?.healed).toBe(false);
    const b = world.bindings.get(key!)!;
    const principal = (await emu.control.getLogicApp(b.spec.logicAppId)).identity!.principalId!;
    expect(
      (await emu.control.listRoleAssignments({ principalId: principal }))
        .map((a) => a.properties.scope)
        .sort(),
    ).toEqual(b.spec.roleAssignments!.map((r) => r.scope).sort());
  });
});
