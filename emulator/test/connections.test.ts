/** Managed API connections' access policies and Standard workflow versions: behaviour no example shows. */
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../index.ts";
import { clients, type Clients } from "./support.ts";

let emu: RunningEmulator;
let c: Clients;
const SUB = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345";
const CONN = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Web/connections/sql`;
const V = "api-version=2016-06-01";

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(() => emu.stop());
beforeEach(async () => {
  await emu.control.reset();
  c = clients(emu, { retries: false });
  await emu.control.seedConnection({ subscriptionId: SUB, resourceGroup: "rg", name: "sql", kind: "V2" });
});

it("an access policy needs an ActiveDirectory principal with an objectId (the documented template shape)", async () => {
  const bad = await c.arm("PUT", `${CONN}/accessPolicies/p?${V}`, {
    properties: { principal: { type: "User", identity: {} } },
  });
  expect(bad.status).toBe(400);
  const put = {
    properties: { principal: { type: "ActiveDirectory", identity: { objectId: "o", tenantId: "t" } } },
  };
  expect((await c.arm("PUT", `${CONN}/accessPolicies/p?${V}`, put)).status).toBe(201);
  expect((await c.arm("PUT", `${CONN}/accessPolicies/p?${V}`, put)).status).toBe(200);
  const got = await c.arm("GET", `${CONN}/accessPolicies/p?${V}`);
  expect(got.json).toEqual({
    id: `${CONN}/accessPolicies/p`,
    name: "p",
    type: "Microsoft.Web/connections/accessPolicies",
    location: "westeurope",
    properties: put.properties,
  });
  expect((await c.arm("DELETE", `${CONN}/accessPolicies/p?${V}`)).status).toBe(200);
  expect((await c.arm("DELETE", `${CONN}/accessPolicies/p?${V}`)).status).toBe(204);
  expect((await c.arm("GET", `${CONN}/accessPolicies/p?${V}`)).status).toBe(404);
});

it("access policies survive an update of their connection and go with its deletion", async () => {
  await emu.control.seedConnectionAccessPolicy({ connectionId: CONN, name: "p", objectId: "o" });
  const body = {
    location: "westeurope",
    properties: {
      api: { id: "/subscriptions/x/providers/Microsoft.Web/locations/westeurope/managedApis/sql" },
    },
  };
  expect((await c.arm("PUT", `${CONN}?${V}`, body)).status).toBe(200);
  expect((await emu.control.connectionAccessPolicies(CONN)).map((p) => p.name)).toEqual(["p"]);
  await c.arm("DELETE", `${CONN}?${V}`);
  expect((await c.arm("GET", `${CONN}/accessPolicies?${V}`)).status).toBe(404);
});

it("every save of a Standard workflow is a version that stays readable", async () => {
  const site = await emu.control.seedLogicApp({
    subscriptionId: SUB,
    resourceGroup: "rg",
    name: "std",
    kind: "Standard",
  });
  const v1 = await emu.control.seedSiteWorkflow({
    siteId: site.id,
    name: "wf",
    definition: { actions: { A: {} } },
  });
  await new Promise((r) => setTimeout(r, 5));
  const v2 = await emu.control.seedSiteWorkflow({
    siteId: site.id,
    name: "wf",
    definition: { actions: { B: {} } },
  });
  expect(v2.version).not.toBe(v1.version);
  const web = c.web(SUB);
  const old = await web.workflowVersions.get("rg", "std", "wf", v1.version);
  expect(old.definition).toEqual({ actions: { A: {} } });
  const now = await web.webApps.getWorkflow("rg", "std", "wf");
  expect(
    (now.properties?.files as Record<string, { definition: unknown }>)["workflow.json"]!.definition,
  ).toEqual({
    actions: { B: {} },
  });
});
