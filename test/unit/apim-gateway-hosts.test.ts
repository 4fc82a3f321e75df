/**
 * ApimChainPort.getGatewayHosts over the real adapter against the emulator (ApiManagementService_Get): the built-in
 * gateway host, custom Proxy domains added, other endpoint types (DeveloperPortal, Management) left out, and a
 * service that does not exist is undefined, not an error.
 */
import { expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import type { ApimChainPort } from "../../src/azure/ports.ts";

let emu: RunningEmulator;
let ids: ScenarioIds;
let chain: ApimChainPort;

useEmulator({}, (env) => {
  ({ emu, ids } = env);
  chain = env.ports.apimChain;
});

const serviceName = (id: string) => id.split("/").pop()!;

it("returns the built-in gateway host of the service", async () => {
  const hosts = await chain.getGatewayHosts(ids.apim.serviceId);
  expect(hosts).toEqual([`${serviceName(ids.apim.serviceId).toLowerCase()}.azure-api.net`]);
});

it("adds custom Proxy domains and leaves out the other endpoint types", async () => {
  const [, , sub, , rg] = ids.apim.serviceId.split("/");
  await emu.control.seedApimService({
    subscriptionId: sub!,
    resourceGroup: rg!,
    name: serviceName(ids.apim.serviceId),
    customHostnames: [
      { type: "Proxy", hostName: "API.Contoso.com" },
      { type: "DeveloperPortal", hostName: "developer.contoso.com" },
      { type: "Management", hostName: "mgmt.contoso.com" },
    ],
  });
  const hosts = await chain.getGatewayHosts(ids.apim.serviceId);
  expect(hosts).toEqual([
    `${serviceName(ids.apim.serviceId).toLowerCase()}.azure-api.net`,
    "api.contoso.com",
  ]);
});

it("is undefined for a service that does not exist", async () => {
  const gone = ids.apim.serviceId.replace(/[^/]+$/, "no-such-apim");
  expect(await chain.getGatewayHosts(gone)).toBeUndefined();
});
