/**
 * The issue-14 adapters (WorkflowPort, ConnectionPort) through the real SDK clients / ARM pipeline against the HTTPS
 * emulator. Assertions are on what the emulator holds and what went over the wire.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator } from "../../emulator/index.ts";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import { AzureError } from "../../src/azure/errors.ts";
import type { AzureCall, AzurePorts } from "../../src/azure/ports.ts";

const credential = {
  getToken: async () => ({ token: "adapter-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

let emu: RunningEmulator;
let ids: ScenarioIds;
let calls: AzureCall[];
let ports: AzurePorts;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});
beforeEach(async () => {
  await emu.control.reset();
  ids = await emu.control.seedScenario();
  calls = [];
  ports = createAzurePorts({
    credential,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    onCall: (c) => calls.push(c),
  });
});

const action = {
  type: "Http",
  inputs: { authentication: { type: "ManagedServiceIdentity", audience: "api://orders" } },
};

describe("WorkflowPort", () => {
  it("Consumption: the definition and parameters of Workflows_Get", async () => {
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: { actions: { Call: action } },
      parameters: { $connections: { value: {} } },
    });
    const got = await ports.workflows!.readDefinitions(ids.logicAppId);
    expect(got).toEqual({
      workflows: [
        {
          workflow: ids.logicAppName,
          definition: { actions: { Call: action } },
          parameters: { $connections: { value: {} } },
        },
      ],
    });
  });

  it("Standard: every workflow of the site (list, then get each) and the app's connections.json", async () => {
    const site = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "std",
      kind: "Standard",
    });
    await emu.control.seedSiteWorkflow({
      siteId: site.id,
      name: "a",
      definition: { actions: { Call: action } },
    });
    await emu.control.seedSiteWorkflow({ siteId: site.id, name: "b", definition: { actions: {} } });
    await emu.control.seedSiteConnections({ siteId: site.id, connections: { managedApiConnections: {} } });
    const got = await ports.workflows!.readDefinitions(site.id);
    expect(got?.workflows.map((w) => w.workflow).sort()).toEqual(["a", "b"]);
    expect(got?.workflows.find((w) => w.workflow === "a")?.definition).toEqual({ actions: { Call: action } });
    expect(got?.connectionsJson).toEqual({ managedApiConnections: {} });
    expect(calls.map((c) => c.operation)).toEqual([
      "webApps.listWorkflows",
      "webApps.getWorkflow",
      "webApps.getWorkflow",
    ]);
  });

  it("a gone Logic App is undefined, not an error", async () => {
    await emu.control.deleteLogicApp(ids.logicAppId);
    expect(await ports.workflows!.readDefinitions(ids.logicAppId)).toBeUndefined();
  });
});

describe("ConnectionPort", () => {
  it("puts, lists and deletes access policies; a gone one is not an error", async () => {
    const c = await emu.control.seedConnection({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "sql",
      kind: "V2",
    });
    expect(await ports.connections!.observe(c.id)).toMatchObject({
      exists: true,
      kind: "V2",
      location: "westeurope",
    });
    const p = await ports.connections!.putAccessPolicy(
      c.id,
      "laio-p",
      { objectId: "p", tenantId: ids.tenantId },
      "westeurope",
    );
    expect(p).toEqual({
      id: `${c.id}/accessPolicies/laio-p`,
      name: "laio-p",
      objectId: "p",
      tenantId: ids.tenantId,
    });
    expect((await emu.control.connectionAccessPolicies(c.id)).map((x) => x.properties.principal)).toEqual([
      { type: "ActiveDirectory", identity: { objectId: "p", tenantId: ids.tenantId } },
    ]);
    expect(await ports.connections!.listAccessPolicies(c.id)).toEqual([p]);
    await ports.connections!.deleteAccessPolicy(c.id, "laio-p");
    await ports.connections!.deleteAccessPolicy(c.id, "laio-p");
    expect(await emu.control.connectionAccessPolicies(c.id)).toEqual([]);
    expect(calls.every((x) => x.service === "arm-web")).toBe(true);
  });

  it("a missing connection observes as absent; a bad ID is refused before any request", async () => {
    const id = `/subscriptions/${ids.subscriptionId}/resourceGroups/${ids.resourceGroup}/providers/Microsoft.Web/connections/none`;
    expect(await ports.connections!.observe(id)).toEqual({ exists: false });
    await expect(ports.connections!.observe(ids.logicAppId)).rejects.toBeInstanceOf(AzureError);
  });
});
