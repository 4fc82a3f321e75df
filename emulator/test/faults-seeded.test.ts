/**
 * Seeded, probabilistic faults and mangled answers (used by the reliability matrix, docs/reliability.md): the same
 * seed over the same request sequence fires on the same requests, the realised rate is near the asked one, and a
 * mangled answer reaches the SDK with the property gone or the extra property present.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultRegistry, mangleBody } from "../faults.ts";
import { startEmulator, type RunningEmulator } from "../index.ts";
import { clients } from "./support.ts";

const facts = { api: "arm" as const, operation: "Workflows_Get", method: "GET", path: "/x" };

function firings(seed: number, probability: number, n: number): boolean[] {
  const reg = new FaultRegistry();
  reg.add({ action: { kind: "reset" }, probability, seed });
  return Array.from({ length: n }, () => reg.take(facts).length > 0);
}

describe("seeded fault registry", () => {
  it("replays the same decisions for the same seed, and other ones for another seed", () => {
    expect(firings(42, 0.3, 200)).toEqual(firings(42, 0.3, 200));
    expect(firings(42, 0.3, 200)).not.toEqual(firings(43, 0.3, 200));
  });

  it("fires on about the asked share of matching requests and counts what it considered", () => {
    const fired = firings(7, 0.1, 2000).filter(Boolean).length;
    expect(fired).toBeGreaterThan(140);
    expect(fired).toBeLessThan(260);
    const reg = new FaultRegistry();
    const f = reg.add({ action: { kind: "reset" }, probability: 0.3, seed: 9, match: { method: "PUT" } });
    for (let i = 0; i < 50; i++) reg.take(facts);
    expect(reg.list().find((x) => x.id === f.id)).toMatchObject({ considered: 0, hits: 0 });
  });

  it("refuses a probability outside (0, 1]", () => {
    expect(() => new FaultRegistry().add({ action: { kind: "reset" }, probability: 0 })).toThrow(RangeError);
    expect(() => new FaultRegistry().add({ action: { kind: "reset" }, probability: 1.5 })).toThrow(
      RangeError,
    );
  });

  it("mangles a copy: drops names at any depth, adds to the top and to each list item", () => {
    const body = { id: "a", properties: { principalId: "p", scope: "s" }, value: [{ etag: "e", n: 1 }] };
    const out = mangleBody(body, { drop: ["principalId", "etag"], add: { surprise: true } });
    expect(out).toEqual({
      id: "a",
      properties: { scope: "s" },
      value: [{ n: 1, surprise: true }],
      surprise: true,
    });
    expect(body.properties.principalId).toBe("p");
  });
});

describe("mangled answers through the SDK", () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(async () => {
    await emu?.stop();
  });

  it("a workflow read without its identity, and one with unknown properties", async () => {
    await emu.control.reset();
    const ids = await emu.control.seedScenario();
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    const wf = clients(emu).logic(ids.subscriptionId).workflows;
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "mangle", drop: ["identity"] },
      count: 1,
    });
    expect((await wf.get(ids.resourceGroup, ids.logicAppName)).identity).toBeUndefined();
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "mangle", add: { unexpectedProperty: { nested: 1 } } },
      count: 1,
    });
    const extra = await wf.get(ids.resourceGroup, ids.logicAppName);
    expect(extra.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    // The world itself is untouched: the next read is whole.
    expect((await wf.get(ids.resourceGroup, ids.logicAppName)).identity?.type).toBe("SystemAssigned");
  });
});
