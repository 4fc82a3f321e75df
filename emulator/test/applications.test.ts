/**
 * Graph app registrations (issue 13) through the real Graph pipeline: every rule of emulator/graph/applications.ts,
 * asserted on what the emulator then holds (its control API) as well as on the wire answer.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_GRAPH_CALLER_ID, startEmulator, type RunningEmulator } from "../index.ts";
import { clients, type Clients } from "./support.ts";

type Json = Record<string, unknown>;

let emu: RunningEmulator;
let c: Clients;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(() => emu.stop());
beforeEach(async () => {
  await emu.control.reset();
  await emu.control.setConfig({
    replicationDelayMs: 0,
    applicationReplicationDelayMs: 0,
    throttling: { enabled: false },
    graphCaller: { objectId: DEFAULT_GRAPH_CALLER_ID, permission: "Application.ReadWrite.OwnedBy" },
  });
  c = clients(emu, { retries: false });
});

const ROLE_ID = "6f0c9f43-63a3-4d57-9b0e-4cf3c5a0c001";
const addRole = (over: Json = {}) => ({
  id: ROLE_ID,
  value: "AddRole",
  displayName: "Add orders",
  description: "Create orders",
  allowedMemberTypes: ["Application"],
  isEnabled: true,
  ...over,
});

async function create(body: Json = {}): Promise<Json> {
  const res = await c.graph("POST", "/v1.0/applications", { displayName: "orders-api", ...body });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json as Json;
}

const errorCode = (res: { json: unknown }) => (res.json as { error: { code: string } }).error.code;
const errorMessage = (res: { json: unknown }) => (res.json as { error: { message: string } }).error.message;
const stored = async (id: string) => (await emu.control.listApplications()).find((a) => a.id === id);

describe("POST, GET, $filter, $select, PATCH", () => {
  it("creates with identifier URI and roles; the caller owns it; GET by id, by appId and by $filter finds it", async () => {
    const app = await create({ identifierUris: ["api://orders"], appRoles: [addRole()] });
    expect((await stored(String(app.id)))?.owners).toEqual([DEFAULT_GRAPH_CALLER_ID]);
    const byId = await c.graph("GET", `/v1.0/applications/${String(app.id)}`);
    const byAppId = await c.graph(
      "GET",
      `/v1.0/applications(appId='${String(app.appId)}')?$select=id,appId,identifierUris`,
    );
    expect(byId.json).toMatchObject({ identifierUris: ["api://orders"], appRoles: [{ value: "AddRole" }] });
    expect(byAppId.json).toEqual({
      "@odata.context":
        "https://graph.microsoft.com/v1.0/$metadata#applications(id,appId,identifierUris)/$entity",
      id: app.id,
      appId: app.appId,
      identifierUris: ["api://orders"],
    });
    const filter = encodeURIComponent("identifierUris/any(x:x eq 'api://orders')");
    const list = (await c.graph("GET", `/v1.0/applications?$filter=${filter}`)).json as { value: Json[] };
    expect(list.value.map((a) => a.id)).toEqual([app.id]);
    const slash = encodeURIComponent("identifierUris/any(x:x eq 'api://orders/')");
    expect(
      ((await c.graph("GET", `/v1.0/applications?$filter=${slash}`)).json as { value: Json[] }).value,
    ).toEqual([]);
  });

  it("PATCH changes displayName, identifierUris and the token version (204), and the SP mirrors names and roles", async () => {
    const app = await create({ identifierUris: ["api://orders"], appRoles: [addRole()] });
    const sp = await c.graph("POST", "/v1.0/servicePrincipals", { appId: app.appId });
    expect(sp.status).toBe(201);
    const res = await c.graph("PATCH", `/v1.0/applications/${String(app.id)}`, {
      displayName: "orders",
      identifierUris: ["api://orders-v2"],
      api: { requestedAccessTokenVersion: 1 },
      appRoles: [addRole({ displayName: "Add", description: "Adds" })],
    });
    expect(res.status).toBe(204);
    const after = (await c.graph("GET", `/v1.0/applications/${String(app.id)}`)).json as Json;
    expect(after).toMatchObject({
      displayName: "orders",
      identifierUris: ["api://orders-v2"],
      api: { requestedAccessTokenVersion: 1 },
      appRoles: [{ displayName: "Add", description: "Adds", isEnabled: true }],
    });
    const spNow = (await emu.control.listServicePrincipals()).find((s) => s.appId === app.appId)!;
    expect(spNow.servicePrincipalNames).toEqual(["api://orders-v2", app.appId]);
    expect((spNow.appRoles as Json[])[0]).toMatchObject({ displayName: "Add" });
  });

  it("refuses an unknown property and a token version other than null, 1 or 2", async () => {
    const app = await create();
    const bad = await c.graph("PATCH", `/v1.0/applications/${String(app.id)}`, { audience: "x" });
    expect(bad.status).toBe(400);
    const v3 = await c.graph("PATCH", `/v1.0/applications/${String(app.id)}`, {
      api: { requestedAccessTokenVersion: 3 },
    });
    expect(v3.status).toBe(400);
    expect((await stored(String(app.id)))?.displayName).toBe("orders-api");
  });
});

describe("app roles: an enabled role is disabled in one PATCH and removed in a second", () => {
  it("removing or renaming the value of an enabled role is 400 CannotDeleteOrUpdateEnabledEntitlement", async () => {
    const app = await create({ appRoles: [addRole()] });
    const path = `/v1.0/applications/${String(app.id)}`;
    const remove = await c.graph("PATCH", path, { appRoles: [] });
    expect(remove.status).toBe(400);
    expect(errorCode(remove)).toBe("CannotDeleteOrUpdateEnabledEntitlement");
    expect(errorMessage(remove)).toBe(
      "Permission (scope or role) cannot be deleted or updated unless disabled first.",
    );
    const rename = await c.graph("PATCH", path, { appRoles: [addRole({ value: "CreateRole" })] });
    expect(errorCode(rename)).toBe("CannotDeleteOrUpdateEnabledEntitlement");
    // Disabling and changing the value in the same PATCH is still a change of an enabled role.
    const both = await c.graph("PATCH", path, { appRoles: [addRole({ value: "X", isEnabled: false })] });
    expect(errorCode(both)).toBe("CannotDeleteOrUpdateEnabledEntitlement");
    expect((await stored(String(app.id)))?.appRoles).toEqual([
      { id: ROLE_ID, value: "AddRole", isEnabled: true },
    ]);

    expect((await c.graph("PATCH", path, { appRoles: [addRole({ isEnabled: false })] })).status).toBe(204);
    expect((await c.graph("PATCH", path, { appRoles: [] })).status).toBe(204);
    expect((await stored(String(app.id)))?.appRoles).toEqual([]);
  });

  it("a disabled role may change its value; duplicate role values or ids are refused", async () => {
    const app = await create({ appRoles: [addRole({ isEnabled: false })] });
    const path = `/v1.0/applications/${String(app.id)}`;
    expect((await c.graph("PATCH", path, { appRoles: [addRole({ value: "CreateRole" })] })).status).toBe(204);
    const dup = await c.graph("PATCH", path, {
      appRoles: [
        addRole({ value: "CreateRole" }),
        addRole({ id: "6f0c9f43-63a3-4d57-9b0e-4cf3c5a0c002", value: "CreateRole" }),
      ],
    });
    expect(dup.status).toBe(400);
    expect((await stored(String(app.id)))?.appRoles.map((r) => r.value)).toEqual(["CreateRole"]);
  });
});

describe("identifier URIs are unique in the tenant", () => {
  it("a second application with the same URI (case aside) is 400 with the ObjectConflict detail; a trailing slash is another URI", async () => {
    await create({ identifierUris: ["api://orders"] });
    const clash = await c.graph("POST", "/v1.0/applications", {
      displayName: "other",
      identifierUris: ["API://Orders"],
    });
    expect(clash.status).toBe(400);
    expect(clash.json).toMatchObject({
      error: {
        code: "Request_BadRequest",
        message: "Another object with the same value for property identifierUris already exists.",
        details: [{ code: "ObjectConflict", target: "identifierUris" }],
      },
    });
    const other = await create({ displayName: "other", identifierUris: ["api://orders/"] });
    const patch = await c.graph("PATCH", `/v1.0/applications/${String(other.id)}`, {
      identifierUris: ["api://orders"],
    });
    expect(patch.status).toBe(400);
    expect((await emu.control.listApplications()).map((a) => a.identifierUris).sort()).toEqual([
      ["api://orders"],
      ["api://orders/"],
    ]);
  });
});

describe("Application.ReadWrite.OwnedBy", () => {
  it("a caller that is not an owner may read but not PATCH, DELETE or create its SP (403)", async () => {
    const theirs = await emu.control.seedApplication({
      displayName: "someone else's",
      appRoles: [{ value: "R" }],
    });
    const path = `/v1.0/applications/${theirs.id}`;
    expect((await c.graph("GET", path)).status).toBe(200);
    const patch = await c.graph("PATCH", path, { displayName: "mine now" });
    expect(patch.status).toBe(403);
    expect(errorCode(patch)).toBe("Authorization_RequestDenied");
    expect((await c.graph("DELETE", path)).status).toBe(403);
    expect((await c.graph("POST", "/v1.0/servicePrincipals", { appId: theirs.appId })).status).toBe(403);
    const after = await stored(theirs.id);
    expect(after).toMatchObject({ displayName: "someone else's", deletedDateTime: null });
    expect(after?.servicePrincipalId).toBeUndefined();
  });

  it("an owner may; OwnedBy may not add another owner, Application.ReadWrite.All may (and lists it)", async () => {
    const { id: userId } = await emu.control.seedUser({ displayName: "Ada" });
    const ours = await emu.control.seedApplication({
      displayName: "ours",
      owners: [DEFAULT_GRAPH_CALLER_ID],
    });
    const path = `/v1.0/applications/${ours.id}`;
    expect((await c.graph("PATCH", path, { displayName: "ours!" })).status).toBe(204);
    const ref = { "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${userId}` };
    expect((await c.graph("POST", `${path}/owners/$ref`, ref)).status).toBe(403);
    await emu.control.setConfig({ graphCaller: { permission: "Application.ReadWrite.All" } });
    expect((await c.graph("POST", `${path}/owners/$ref`, ref)).status).toBe(204);
    const again = await c.graph("POST", `${path}/owners/$ref`, ref);
    expect(again.status).toBe(400);
    expect((await stored(ours.id))?.owners).toEqual([DEFAULT_GRAPH_CALLER_ID, userId]);
    const owners = (await c.graph("GET", `${path}/owners`)).json as { value: Json[] };
    expect(owners.value).toEqual([
      expect.objectContaining({
        "@odata.type": "#microsoft.graph.servicePrincipal",
        id: DEFAULT_GRAPH_CALLER_ID,
      }),
      expect.objectContaining({ "@odata.type": "#microsoft.graph.user", id: userId, displayName: "Ada" }),
    ]);
    // With .All even a non-owner may write.
    const theirs = await emu.control.seedApplication({ displayName: "theirs" });
    expect((await c.graph("PATCH", `/v1.0/applications/${theirs.id}`, { displayName: "t" })).status).toBe(
      204,
    );
  });
});

describe("service principal for an application", () => {
  it("is refused while the application replicates, created after, and a second create is 409", async () => {
    await emu.control.setConfig({ applicationReplicationDelayMs: 400 });
    const app = await create({ identifierUris: ["api://orders"], appRoles: [addRole()] });
    const early = await c.graph("POST", "/v1.0/servicePrincipals", { appId: app.appId });
    expect(early.status).toBe(400);
    expect(errorMessage(early)).toBe(
      `The appId '${String(app.appId)}' of the service principal does not reference a valid application object.`,
    );
    expect((await stored(String(app.id)))?.servicePrincipalId).toBeUndefined();
    await new Promise((r) => setTimeout(r, 450));
    const sp = await c.graph("POST", "/v1.0/servicePrincipals", { appId: app.appId });
    expect(sp.status).toBe(201);
    expect(sp.json).toMatchObject({
      appId: app.appId,
      appDisplayName: "orders-api",
      servicePrincipalNames: ["api://orders", app.appId],
      appRoles: [{ id: ROLE_ID, value: "AddRole" }],
    });
    expect((await stored(String(app.id)))?.servicePrincipalId).toBe((sp.json as Json).id);
    const twice = await c.graph("POST", "/v1.0/servicePrincipals", { appId: app.appId });
    expect(twice.status).toBe(409);
    expect(errorCode(twice)).toBe("Request_MultipleObjectsWithSameKeyValue");
  });

  it("is invisible to lookups within the principal replication delay", async () => {
    await emu.control.setConfig({ replicationDelayMs: 300 });
    const app = await create();
    const sp = (await c.graph("POST", "/v1.0/servicePrincipals", { appId: app.appId })).json as Json;
    expect((await c.graph("GET", `/v1.0/servicePrincipals/${String(sp.id)}`)).status).toBe(404);
    await new Promise((r) => setTimeout(r, 350));
    expect((await c.graph("GET", `/v1.0/servicePrincipals(appId='${String(app.appId)}')`)).status).toBe(200);
  });
});

describe("DELETE is a soft delete", () => {
  it("moves the application to deletedItems, deletes its SP and every app-role assignment to it, and frees its URI", async () => {
    const app = await create({ identifierUris: ["api://orders"], appRoles: [addRole()] });
    const sp = (await c.graph("POST", "/v1.0/servicePrincipals", { appId: app.appId })).json as Json;
    const client = await emu.control.seedServicePrincipal({ displayName: "caller" });
    await emu.control.seedAppRoleAssignment({
      resourceId: String(sp.id),
      principalId: client.id,
      appRoleId: ROLE_ID,
    });
    expect(await emu.control.listAppRoleAssignments({ resourceId: String(sp.id) })).toHaveLength(1);

    expect((await c.graph("DELETE", `/v1.0/applications/${String(app.id)}`)).status).toBe(204);
    expect((await c.graph("GET", `/v1.0/applications/${String(app.id)}`)).status).toBe(404);
    expect((await c.graph("GET", `/v1.0/servicePrincipals/${String(sp.id)}`)).status).toBe(404);
    expect(await emu.control.listAppRoleAssignments({ resourceId: String(sp.id) })).toEqual([]);
    const deleted = await c.graph("GET", `/v1.0/directory/deletedItems/${String(app.id)}`);
    expect(deleted.json).toMatchObject({ "@odata.type": "#microsoft.graph.application", id: app.id });
    expect((deleted.json as Json).deletedDateTime).toEqual(expect.any(String));
    const list = (await c.graph("GET", "/v1.0/directory/deletedItems/microsoft.graph.application")).json as {
      value: Json[];
    };
    expect(list.value.map((a) => a.id)).toEqual([app.id]);
    expect((await stored(String(app.id)))?.deletedDateTime).toEqual(expect.any(String));
  });

  it("restores within 30 days (without its SP), refuses when its URI was taken meanwhile, and purges after 30 days", async () => {
    const app = await create({ identifierUris: ["api://orders"] });
    await c.graph("DELETE", `/v1.0/applications/${String(app.id)}`);
    const restored = await c.graph("POST", `/v1.0/directory/deletedItems/${String(app.id)}/restore`);
    expect(restored.status).toBe(200);
    expect((await c.graph("GET", `/v1.0/applications/${String(app.id)}`)).status).toBe(200);
    expect(await stored(String(app.id))).toMatchObject({ deletedDateTime: null });
    expect((await stored(String(app.id)))?.servicePrincipalId).toBeUndefined();

    await c.graph("DELETE", `/v1.0/applications/${String(app.id)}`);
    const taker = await create({ displayName: "taker", identifierUris: ["api://orders"] });
    const clash = await c.graph("POST", `/v1.0/directory/deletedItems/${String(app.id)}/restore`);
    expect(clash.status).toBe(400);
    await c.graph("DELETE", `/v1.0/applications/${String(taker.id)}`);

    const realNow = emu.runtime.now.bind(emu.runtime);
    emu.runtime.now = () => realNow() + 30 * 24 * 3600 * 1000 + 1000;
    try {
      expect((await c.graph("GET", `/v1.0/directory/deletedItems/${String(app.id)}`)).status).toBe(404);
      expect((await c.graph("POST", `/v1.0/directory/deletedItems/${String(app.id)}/restore`)).status).toBe(
        404,
      );
      expect(await emu.control.listApplications()).toEqual([]);
    } finally {
      emu.runtime.now = realNow;
    }
  });

  it("a non-owner (OwnedBy) may not restore or purge", async () => {
    const theirs = await emu.control.seedApplication({ displayName: "theirs" });
    await emu.control.deleteApplication(theirs.id);
    expect((await c.graph("POST", `/v1.0/directory/deletedItems/${theirs.id}/restore`)).status).toBe(403);
    expect((await c.graph("DELETE", `/v1.0/directory/deletedItems/${theirs.id}`)).status).toBe(403);
    expect((await stored(theirs.id))?.deletedDateTime).toEqual(expect.any(String));
  });
});
