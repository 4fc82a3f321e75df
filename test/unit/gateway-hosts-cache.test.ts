/**
 * WorkflowReads.gatewayHosts over the real ApimChainPort against the emulator: hosts are read once per service and
 * kept for the TTL (a steady-state pass adds no service GET), a new custom domain shows after the TTL, and a service
 * that is gone contributes no host and is not kept.
 */
import { expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import type { AzureCall, AzurePorts } from "../../src/azure/ports.ts";
import { WorkflowReads } from "../../src/controllers/binding/gather-workflows.ts";

let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;
let calls: AzureCall[];

useEmulator({ ports: { onCall: (c) => calls.push(c) } }, (env) => {
  ({ emu, ids, ports } = env);
  calls = [];
});

const serviceGets = () => calls.filter((c) => c.operation === "apiManagementService.get").length;

it("kept for the TTL; a custom domain added meanwhile shows after it", async () => {
  let now = 0;
  const reads = new WorkflowReads({ ttlMs: 600_000, now: () => now });
  const builtIn = "apim-orders.azure-api.net";
  expect(await reads.gatewayHosts(ids.apim.serviceId, ports, {})).toEqual([builtIn]);
  const [, , sub, , rg] = ids.apim.serviceId.split("/");
  await emu.control.seedApimService({
    subscriptionId: sub!,
    resourceGroup: rg!,
    name: "apim-orders",
    customHostnames: [{ type: "Proxy", hostName: "api.contoso.com" }],
  });
  now = 599_000;
  expect(await reads.gatewayHosts(ids.apim.serviceId.toUpperCase(), ports, {})).toEqual([builtIn]);
  expect(serviceGets()).toBe(1);
  now = 600_000;
  expect(await reads.gatewayHosts(ids.apim.serviceId, ports, {})).toEqual([builtIn, "api.contoso.com"]);
  expect(serviceGets()).toBe(2);
});

it("a service that is gone: no host, and not kept", async () => {
  const reads = new WorkflowReads({ now: () => 0 });
  const gone = ids.apim.serviceId.replace(/[^/]+$/, "no-such-apim");
  expect(await reads.gatewayHosts(gone, ports, {})).toEqual([]);
  expect(await reads.gatewayHosts(gone, ports, {})).toEqual([]);
  expect(serviceGets()).toBe(2);
});

it("without an ApimChainPort: no host, no read", async () => {
  const reads = new WorkflowReads();
  const { apimChain: _omit, ...rest } = ports;
  expect(await reads.gatewayHosts(ids.apim.serviceId, rest, {})).toEqual([]);
  expect(serviceGets()).toBe(0);
});
