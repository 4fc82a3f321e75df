/**
 * ApplicationPort (src/azure/graph/applications.ts) through the real Graph pipeline against the HTTPS emulator.
 * Assertions are on what the emulator then holds and on its request log, plus the classification a pass reports.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_GRAPH_CALLER_ID, startEmulator } from "../../emulator/index.ts";
import type { RunningEmulator } from "../../emulator/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import { AzureError, errorClassOf } from "../../src/azure/errors.ts";
import type { AzureErrorKind } from "../../src/azure/errors.ts";
import type { ApplicationAppRole, AzureCall, AzurePorts } from "../../src/azure/ports.ts";

const credential = {
  getToken: async () => ({ token: "applications-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

let emu: RunningEmulator;
let ports: AzurePorts;
let calls: AzureCall[];

async function expectKind(p: Promise<unknown>, kind: AzureErrorKind): Promise<AzureError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof AzureError)) throw new Error(`expected an AzureError, got ${String(e)}`);
  expect(e.kind, e.message).toBe(kind);
  return e;
}

const stored = async (id: string) => (await emu.control.listApplications()).find((a) => a.id === id);

const ADD: ApplicationAppRole = {
  id: "0b5c1c7e-3f2d-4b8e-9c55-6a1e2f3d4c01",
  value: "AddRole",
  displayName: "Add orders",
  description: "Create orders",
  allowedMemberTypes: ["Application"],
  isEnabled: true,
};

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});
beforeEach(async () => {
  await emu.control.reset();
  await emu.control.setConfig({
    replicationDelayMs: 0,
    applicationReplicationDelayMs: 0,
    graphCaller: { objectId: DEFAULT_GRAPH_CALLER_ID, permission: "Application.ReadWrite.OwnedBy" },
  });
  calls = [];
  ports = createAzurePorts({
    credential,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    onCall: (c) => calls.push(c),
  });
});

describe("ApplicationPort", () => {
  it("creates a registration the operator owns, observes it by URI and appId, and makes its SP once", async () => {
    const app = await ports.applications.create({
      displayName: "orders-api",
      identifierUris: ["api://orders"],
      appRoles: [ADD],
      requestedAccessTokenVersion: 2,
      signInAudience: "AzureADMyOrg",
    });
    expect(app).toMatchObject({
      displayName: "orders-api",
      identifierUris: ["api://orders"],
      appRoles: [ADD],
      requestedAccessTokenVersion: 2,
      signInAudience: "AzureADMyOrg",
    });
    expect((await stored(app.id))?.owners).toEqual([DEFAULT_GRAPH_CALLER_ID]);
    expect(await ports.applications.observeByIdentifierUri("api://orders")).toEqual(app);
    expect(await ports.applications.observeByAppId(app.appId)).toEqual(app);
    expect(await ports.applications.observeByIdentifierUri("api://orders/")).toBeUndefined();
    expect(await ports.applications.listOwners(app.id)).toEqual([
      { id: DEFAULT_GRAPH_CALLER_ID, type: "servicePrincipal" },
    ]);

    const sp = await ports.applications.createServicePrincipal(app.appId);
    expect(sp).toMatchObject({ appId: app.appId, servicePrincipalNames: ["api://orders", app.appId] });
    expect(sp.appRoles).toEqual([
      { id: ADD.id, value: "AddRole", isEnabled: true, allowedMemberTypes: ["Application"] },
    ]);
    // Idempotent: a second create adopts the SP that exists.
    expect((await ports.applications.createServicePrincipal(app.appId)).id).toBe(sp.id);
    expect((await stored(app.id))?.servicePrincipalId).toBe(sp.id);
    // 201, then 409 and the GET that reads the existing SP (observed under the same operation).
    expect(calls.filter((c) => c.operation === "servicePrincipals.create").map((c) => c.statusCode)).toEqual([
      201, 409, 200,
    ]);
  });

  it("removes an enabled app role in two PATCHes; one PATCH is Invalid with an actionable reason", async () => {
    const app = await ports.applications.create({ displayName: "orders-api", appRoles: [ADD] });
    const e = await expectKind(ports.applications.patch(app.id, { appRoles: [] }), "Invalid");
    expect(e.code).toBe("CannotDeleteOrUpdateEnabledEntitlement");
    expect(errorClassOf(e)).toMatchObject({ reason: "AppRoleStillEnabled", retry: "person" });
    expect(errorClassOf(e).hint).toMatch(/disable it/);
    expect((await stored(app.id))?.appRoles).toEqual([{ id: ADD.id, value: "AddRole", isEnabled: true }]);

    await ports.applications.patch(app.id, { appRoles: [{ ...ADD, isEnabled: false }] });
    await ports.applications.patch(app.id, { appRoles: [] });
    expect((await stored(app.id))?.appRoles).toEqual([]);
    const log = await emu.control.requestLog({ operation: "Applications_Update" });
    expect(log.map((l) => l.status)).toEqual([400, 204, 204]);
  });

  it("patches display name, URIs and token version", async () => {
    const app = await ports.applications.create({ displayName: "orders-api" });
    await ports.applications.patch(app.id, {
      displayName: "orders",
      identifierUris: ["api://orders"],
      requestedAccessTokenVersion: 1,
      signInAudience: "AzureADMyOrg",
    });
    expect(await ports.applications.observeByAppId(app.appId)).toMatchObject({
      displayName: "orders",
      identifierUris: ["api://orders"],
      requestedAccessTokenVersion: 1,
    });
  });

  it("an identifier URI held by another application is Invalid IdentifierUriInUse, on create and on patch", async () => {
    await emu.control.seedApplication({ displayName: "theirs", identifierUris: ["api://orders"] });
    const e = await expectKind(
      ports.applications.create({ displayName: "ours", identifierUris: ["api://orders"] }),
      "Invalid",
    );
    expect(e.code).toBe("IdentifierUriInUse");
    expect(errorClassOf(e).reason).toBe("IdentifierUriInUse");
    expect((await emu.control.listApplications()).map((a) => a.displayName)).toEqual(["theirs"]);
    const ours = await ports.applications.create({ displayName: "ours" });
    const p = await expectKind(
      ports.applications.patch(ours.id, { identifierUris: ["API://orders"] }),
      "Invalid",
    );
    expect(p.code).toBe("IdentifierUriInUse");
    expect((await stored(ours.id))?.identifierUris).toEqual([]);
  });

  it("OwnedBy: another's registration can be observed but not changed (Forbidden, reason says add an owner)", async () => {
    const theirs = await emu.control.seedApplication({
      displayName: "theirs",
      identifierUris: ["api://theirs"],
    });
    expect(await ports.applications.observeByIdentifierUri("api://theirs")).toMatchObject({ id: theirs.id });
    expect(await ports.applications.listOwners(theirs.id)).toEqual([]);
    const e = await expectKind(ports.applications.patch(theirs.id, { displayName: "mine" }), "Forbidden");
    expect(e.code).toBe("Authorization_RequestDenied");
    expect(errorClassOf(e).hint).toMatch(/owner/);
    await expectKind(ports.applications.delete(theirs.id), "Forbidden");
    await expectKind(ports.applications.addOwner(theirs.id, DEFAULT_GRAPH_CALLER_ID), "Forbidden");
    await expectKind(ports.applications.createServicePrincipal(theirs.appId), "Forbidden");
    expect(await stored(theirs.id)).toMatchObject({
      displayName: "theirs",
      owners: [],
      deletedDateTime: null,
    });
  });

  it("Application.ReadWrite.All: adds an owner, and adding it again is not an error", async () => {
    await emu.control.setConfig({ graphCaller: { permission: "Application.ReadWrite.All" } });
    const theirs = await emu.control.seedApplication({ displayName: "theirs" });
    await ports.applications.addOwner(theirs.id, DEFAULT_GRAPH_CALLER_ID);
    await ports.applications.addOwner(theirs.id, DEFAULT_GRAPH_CALLER_ID);
    expect((await stored(theirs.id))?.owners).toEqual([DEFAULT_GRAPH_CALLER_ID]);
  });

  it("delete is a soft delete that takes the SP and its assignments; deleting again is not an error", async () => {
    const app = await ports.applications.create({ displayName: "orders-api", appRoles: [ADD] });
    const sp = await ports.applications.createServicePrincipal(app.appId);
    const caller = await emu.control.seedServicePrincipal({ displayName: "caller" });
    await emu.control.seedAppRoleAssignment({ resourceId: sp.id, principalId: caller.id, appRoleId: ADD.id });
    await ports.applications.delete(app.id);
    await ports.applications.delete(app.id);
    expect(await ports.applications.observeByAppId(app.appId)).toBeUndefined();
    expect((await stored(app.id))?.deletedDateTime).toEqual(expect.any(String));
    expect(await emu.control.listAppRoleAssignments({ resourceId: sp.id })).toEqual([]);
    expect(await ports.graph.findServicePrincipal(app.appId)).toBeUndefined();
  });

  it("an application not replicated yet: createServicePrincipal is PrincipalNotFound (retry), then succeeds", async () => {
    await emu.control.setConfig({ applicationReplicationDelayMs: 300 });
    const app = await ports.applications.create({ displayName: "orders-api" });
    await expectKind(ports.applications.createServicePrincipal(app.appId), "PrincipalNotFound");
    await new Promise((r) => setTimeout(r, 350));
    expect((await ports.applications.createServicePrincipal(app.appId)).appId).toBe(app.appId);
  });
});
