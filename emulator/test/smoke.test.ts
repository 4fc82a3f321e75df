import { afterAll, beforeAll, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../index.ts";
import { clients } from "./support.ts";

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(() => emu.stop());

it("serves the seed scenario through the real SDKs", async () => {
  const ids = await emu.control.seedScenario();
  const c = clients(emu);
  const wf = await c.logic(ids.subscriptionId).workflows.get(ids.resourceGroup, "orders-workflow");
  expect(wf.name).toBe("orders-workflow");
  const sp = await c.graph(
    "GET",
    `/v1.0/servicePrincipals?$filter=${encodeURIComponent("servicePrincipalNames/any(c:c eq 'api://orders')")}`,
  );
  expect((sp.json as { value: unknown[] }).value).toHaveLength(1);
});
