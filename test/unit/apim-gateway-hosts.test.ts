/**
 * ApimChainPort.getGatewayHosts over the real adapter against the emulator (ApiManagementService_Get): the built-in
 * gateway host, custom Proxy domains added, other endpoint types (DeveloperPortal, Management) left out, and a
 * service that does not exist is undefined, not an error.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import type { ApimChainPort } from "../../src/azure/ports.ts";

const credential = {
  getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

let emu: RunningEmulator;
let ids: ScenarioIds;
let chain: ApimChainPort;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});
beforeEach(async () => {
  await emu.control.reset();
  ids = await emu.control.seedScenario();
  chain = createAzurePorts({
    credential,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
  }).apimChain;
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
