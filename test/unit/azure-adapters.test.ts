/**
 * The Azure adapters (src/azure/arm, src/azure/graph) through the real SDK clients against the HTTPS emulator.
 * Assertions are on the emulator's state (what Azure would hold) and on its request log (what went over the wire).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator } from "../../emulator/index.ts";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import type { AzurePortsOptions } from "../../src/azure/clients.ts";
import { AzureError } from "../../src/azure/errors.ts";
import type { AzureErrorKind } from "../../src/azure/errors.ts";
import { roleAssignmentName } from "../../src/azure/naming.ts";
import type { AzureCall, AzurePorts } from "../../src/azure/ports.ts";

const credential = {
  getToken: async () => ({ token: "adapter-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

let emu: RunningEmulator;
let ids: ScenarioIds;
let calls: AzureCall[];
let ports: AzurePorts;

function makePorts(extra: Partial<AzurePortsOptions> = {}): AzurePorts {
  return createAzurePorts({
    credential,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    onCall: (c) => calls.push(c),
    lroPollIntervalMs: 10,
    ...extra,
  });
}

async function rejection(p: Promise<unknown>): Promise<AzureError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AzureError) return e;
    throw e;
  }
  throw new Error("expected an AzureError");
}

async function expectKind(p: Promise<unknown>, kind: AzureErrorKind): Promise<AzureError> {
  const e = await rejection(p);
  expect(e.kind, e.message).toBe(kind);
  return e;
}

async function wire(operation: string): Promise<number> {
  return (await emu.control.requestLog({ operation })).length;
}

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});
beforeEach(async () => {
  await emu.control.reset();
  await emu.control.setConfig({ replicationDelayMs: 0, graphPageSize: 100, graphMaxPageSize: 999 });
  ids = await emu.control.seedScenario();
  calls = [];
  ports = makePorts();
});

describe("LogicAppPort — Consumption (arm-logic GET + PUT)", () => {
  it("observes a workflow, and reports a missing one as absent", async () => {
    const o = await ports.logicApps.observe(ids.logicAppId);
    expect(o).toMatchObject({
      exists: true,
      kind: "Consumption",
      identity: { type: "None", userAssigned: [] },
    });
    const view = await emu.control.getLogicApp(ids.logicAppId);
    expect(o.version).toBe(view.changedTime);

    const gone = await ports.logicApps.observe(ids.logicAppId.replace("orders-workflow", "nope"));
    expect(gone).toMatchObject({ exists: false, kind: "Consumption", identity: { type: "None" } });
  });

  it("enables the system identity and leaves definition, parameters and state untouched", async () => {
    const properties = {
      state: "Disabled",
      definition: {
        $schema:
          "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
        contentVersion: "1.0.0.0",
        parameters: {
          apiUrl: { type: "String", defaultValue: "https://x" },
          $connections: { type: "Object" },
        },
        triggers: { manual: { type: "Request", kind: "Http", inputs: { schema: {} } } },
        actions: {
          Call: {
            type: "Http",
            inputs: {
              method: "POST",
              uri: "@{parameters('apiUrl')}/orders?x=1&y=<2>",
              authentication: { type: "ManagedServiceIdentity", audience: "api://orders" },
            },
            runAfter: {},
          },
        },
        outputs: {},
      },
      parameters: {
        apiUrl: { value: "https://orders.example/api" },
        $connections: { value: { a: { id: "c" } } },
      },
    };
    const seeded = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "wf-with-definition",
      tags: { team: "orders" },
      properties,
    });
    const before = (await emu.control.state()).workflows[seeded.id.toLowerCase()]!;

    const after = await ports.logicApps.setIdentity(seeded.id, {
      type: "SystemAssigned",
      userAssignedIdentityIds: [],
    });

    expect(after.identity.type).toBe("SystemAssigned");
    expect(after.identity.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(after.identity.tenantId).toBe(ids.tenantId);
    const stored = (await emu.control.state()).workflows[seeded.id.toLowerCase()]!;
    expect(stored.identity.systemPrincipalId).toBe(after.identity.principalId);
    expect(stored.properties.definition).toEqual(before.properties.definition);
    expect(stored.properties.parameters).toEqual(before.properties.parameters);
    expect(stored.properties.state).toBe("Disabled");
    expect(stored.tags).toEqual({ team: "orders" });
    expect(stored.location).toBe(before.location);
    expect(await wire("Workflows_CreateOrUpdate")).toBe(1);
    expect(await wire("Workflows_Update")).toBe(0);
  });

  it("refuses to write when the workflow changed after it was observed", async () => {
    const observed = await ports.logicApps.observe(ids.logicAppId);
    await new Promise((r) => setTimeout(r, 5));
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" }); // someone else's edit
    const principalBefore = (await emu.control.getLogicApp(ids.logicAppId)).identity.principalId;

    const e = await expectKind(
      ports.logicApps.setIdentity(
        ids.logicAppId,
        { type: "None", userAssignedIdentityIds: [] },
        observed.version,
      ),
      "Conflict",
    );
    expect(e.code).toBe("ConcurrentModification");
    expect(await wire("Workflows_CreateOrUpdate")).toBe(0);
    const now = await emu.control.getLogicApp(ids.logicAppId);
    expect(now.identity).toMatchObject({ type: "SystemAssigned", principalId: principalBefore });

    // With the fresh version the same write goes through.
    const fresh = await ports.logicApps.observe(ids.logicAppId);
    const done = await ports.logicApps.setIdentity(
      ids.logicAppId,
      { type: "None", userAssignedIdentityIds: [] },
      fresh.version,
    );
    expect(done.identity.type).toBe("None");
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity.type).toBe("None");
  });

  it("attaches one user-assigned identity and refuses combinations Consumption cannot hold", async () => {
    const uami = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-orders",
    });
    const o = await ports.logicApps.setIdentity(ids.logicAppId, {
      type: "UserAssigned",
      userAssignedIdentityIds: [uami.id],
    });
    expect(o.identity.type).toBe("UserAssigned");
    expect(o.identity.userAssigned).toEqual([
      { id: uami.id, principalId: uami.principalId, clientId: uami.clientId },
    ]);
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity.userAssignedIdentities).toEqual([
      uami.id,
    ]);

    const writes = await wire("Workflows_CreateOrUpdate");
    await expectKind(
      ports.logicApps.setIdentity(ids.logicAppId, {
        type: "SystemAssigned, UserAssigned",
        userAssignedIdentityIds: [uami.id],
      }),
      "Invalid",
    );
    expect(await wire("Workflows_CreateOrUpdate")).toBe(writes);
  });

  it("maps a missing user-assigned identity (400 from ARM) to Invalid", async () => {
    const missing = `${ids.resourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ghost`;
    const e = await expectKind(
      ports.logicApps.setIdentity(ids.logicAppId, {
        type: "UserAssigned",
        userAssignedIdentityIds: [missing],
      }),
      "Invalid",
    );
    expect(e.statusCode).toBe(400);
  });
});

describe("LogicAppPort — Standard (arm-appservice PATCH of identity only)", () => {
  it("observes the site identity and PATCHes identity, detaching user identities no longer wanted", async () => {
    const site = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "orders-standard",
      kind: "Standard",
    });
    const before = (await emu.control.state()).sites[site.id.toLowerCase()]!;
    const a = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-a",
    });
    const b = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-b",
    });

    const o = await ports.logicApps.observe(site.id);
    expect(o).toMatchObject({ exists: true, kind: "Standard", identity: { type: "SystemAssigned" } });
    expect(o.identity.principalId).toBe(site.identity.principalId);

    const both = await ports.logicApps.setIdentity(site.id, {
      type: "SystemAssigned, UserAssigned",
      userAssignedIdentityIds: [a.id],
    });
    expect(both.identity.type).toBe("SystemAssigned, UserAssigned");
    expect(both.identity.principalId).toBe(site.identity.principalId); // system identity kept, not re-minted
    expect(both.identity.userAssigned.map((u) => u.id)).toEqual([a.id]);

    const swapped = await ports.logicApps.setIdentity(site.id, {
      type: "SystemAssigned, UserAssigned",
      userAssignedIdentityIds: [b.id],
    });
    expect(swapped.identity.userAssigned.map((u) => u.id)).toEqual([b.id]);
    const stored = (await emu.control.state()).sites[site.id.toLowerCase()]!;
    expect(stored.identity.userAssignedIds).toEqual([b.id]);
    expect(stored.kind).toBe(before.kind);
    expect(stored.properties.serverFarmId).toBe(before.properties.serverFarmId);
    expect(await wire("WebApps_Update")).toBe(2);
    expect(await wire("WebApps_CreateOrUpdate")).toBe(0);
  });

  it("reports a missing site as absent", async () => {
    const id = `${ids.resourceGroupId}/providers/Microsoft.Web/sites/none`;
    expect(await ports.logicApps.observe(id)).toMatchObject({ exists: false, kind: "Standard" });
  });
});

describe("UserAssignedIdentityPort (arm-msi)", () => {
  it("observes an identity and reports a missing one as absent", async () => {
    const u = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-x",
    });
    expect(await ports.userAssignedIdentities.observe(u.id)).toEqual({
      exists: true,
      principalId: u.principalId,
      clientId: u.clientId,
      tenantId: ids.tenantId,
    });
    expect(await ports.userAssignedIdentities.observe(u.id.replace("id-x", "id-y"))).toEqual({
      exists: false,
    });
  });
});

describe("RoleDefinitionPort (arm-authorization)", () => {
  const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";

  it("resolves by role name, GUID and full ID; unknown is undefined", async () => {
    const byName = await ports.roleDefinitions.resolve(ids.keyVaultScope, "Key Vault Secrets User");
    expect(byName).toEqual({
      id: `/subscriptions/${ids.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_USER}`,
      name: SECRETS_USER,
      roleName: "Key Vault Secrets User",
      // Data actions only: the tenancy matcher reads these to tell a harmless role from a privileged one.
      permissions: [
        {
          actions: [],
          notActions: [],
          dataActions: [
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
          ],
          notDataActions: [],
        },
      ],
    });
    const byGuid = await ports.roleDefinitions.resolve(ids.keyVaultScope, SECRETS_USER);
    expect(byGuid?.roleName).toBe("Key Vault Secrets User");
    const byId = await ports.roleDefinitions.resolve(ids.keyVaultScope, byName!.id);
    expect(byId?.name).toBe(SECRETS_USER);
    expect(await ports.roleDefinitions.resolve(ids.keyVaultScope, "No Such Role")).toBeUndefined();
    expect(
      await ports.roleDefinitions.resolve(ids.keyVaultScope, "00000000-0000-0000-0000-0000000000aa"),
    ).toBeUndefined();
  });

  it("resolves custom roles and caches per subscription and name", async () => {
    await emu.control.seedRoleDefinition({
      roleName: "Orders Reader",
      assignableScopes: [`/subscriptions/${ids.subscriptionId}`],
    });
    const first = await ports.roleDefinitions.resolve(ids.resourceGroupId, "Orders Reader");
    expect(first?.roleName).toBe("Orders Reader");
    const listed = await wire("RoleDefinitions_List");
    // Another scope of the same subscription: served from the cache, no request.
    const second = await ports.roleDefinitions.resolve(ids.keyVaultScope, "orders reader");
    expect(second).toEqual(first);
    expect(await wire("RoleDefinitions_List")).toBe(listed);
  });

  it("expires cached definitions after the TTL", async () => {
    const shortLived = makePorts({ roleDefinitionTtlMs: 50 });
    await shortLived.roleDefinitions.resolve(ids.keyVaultScope, "Reader");
    await shortLived.roleDefinitions.resolve(ids.keyVaultScope, "Reader");
    expect(await wire("RoleDefinitions_List")).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    await shortLived.roleDefinitions.resolve(ids.keyVaultScope, "Reader");
    expect(await wire("RoleDefinitions_List")).toBe(2);
  });
});

describe("RoleAssignmentPort (arm-authorization)", () => {
  async function secretsUser(): Promise<string> {
    return (await ports.roleDefinitions.resolve(ids.keyVaultScope, "Key Vault Secrets User"))!.id;
  }
  async function principal(): Promise<string> {
    const app = await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    return app.identity.principalId!;
  }

  it("creates with principalType ServicePrincipal and the description, then finds it", async () => {
    const roleId = await secretsUser();
    const p = await principal();
    const name = roleAssignmentName(ids.keyVaultScope, roleId, p);
    const created = await ports.roleAssignments.create({
      scope: ids.keyVaultScope,
      name,
      roleDefinitionId: roleId,
      principalId: p,
      description: "managed-by=logicapp-identity-operator; binding=ns/b; uid=1",
    });
    expect(created).toMatchObject({ name, principalId: p, scope: ids.keyVaultScope });
    expect(created.roleDefinitionId.toLowerCase()).toContain(roleId.split("/").pop()!);

    const stored = await emu.control.listRoleAssignments({ principalId: p });
    expect(stored).toHaveLength(1);
    expect(stored[0]!.name).toBe(name);
    expect(stored[0]!.properties.principalType).toBe("ServicePrincipal");
    expect(stored[0]!.properties.description).toBe(
      "managed-by=logicapp-identity-operator; binding=ns/b; uid=1",
    );
  });

  it("listForPrincipal: one call, at and above the scope, only that principal", async () => {
    const roleId = await secretsUser();
    const p = await principal();
    const other = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "someone-else",
    });
    const sub = `/subscriptions/${ids.subscriptionId}`;
    const below = `${ids.keyVaultScope}/secrets/s1`;
    await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: roleId,
      principalId: p,
    });
    await emu.control.seedRoleAssignment({ scope: sub, roleDefinitionId: "Reader", principalId: p });
    await emu.control.seedRoleAssignment({ scope: below, roleDefinitionId: roleId, principalId: p });
    await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: roleId,
      principalId: other.principalId,
    });
    await emu.control.resetLog();

    const found = await ports.roleAssignments.listForPrincipal(ids.keyVaultScope, p);
    expect(found.map((a) => a.scope.toLowerCase()).sort()).toEqual(
      [ids.keyVaultScope.toLowerCase(), sub.toLowerCase()].sort(),
    );
    expect(found.every((a) => a.principalId === p)).toBe(true);
    const log = await emu.control.requestLog();
    expect(log).toHaveLength(1);
    expect(decodeURIComponent(log[0]!.query)).toContain(`principalId eq '${p}'`);
  });

  it("listAtScope returns assignments at exactly the scope, of every principal", async () => {
    const roleId = await secretsUser();
    const p = await principal();
    await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: roleId,
      principalId: p,
    });
    await emu.control.seedRoleAssignment({
      scope: `/subscriptions/${ids.subscriptionId}`,
      roleDefinitionId: "Reader",
      principalId: p,
    });
    const at = await ports.roleAssignments.listAtScope(ids.keyVaultScope);
    expect(at).toHaveLength(1);
    expect(at[0]!.scope.toLowerCase()).toBe(ids.keyVaultScope.toLowerCase());
    const log = await emu.control.requestLog({ operation: "RoleAssignments_ListForScope" });
    expect(decodeURIComponent(log.at(-1)!.query)).toContain("atScope()");
  });

  it("409 RoleAssignmentExists (same trio, other name) → Exists", async () => {
    const roleId = await secretsUser();
    const p = await principal();
    await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: roleId,
      principalId: p,
    });
    const e = await expectKind(
      ports.roleAssignments.create({
        scope: ids.keyVaultScope,
        name: roleAssignmentName(ids.keyVaultScope, roleId, p),
        roleDefinitionId: roleId,
        principalId: p,
        description: "x",
      }),
      "Exists",
    );
    expect(e.statusCode).toBe(409);
    expect(e.code).toBe("RoleAssignmentExists");
    expect(await emu.control.listRoleAssignments({ principalId: p })).toHaveLength(1);
  });

  it("400 PrincipalNotFound → PrincipalNotFound, and nothing is created", async () => {
    const roleId = await secretsUser();
    const p = await principal();
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "principalNotFound" },
      count: 1,
    });
    const e = await expectKind(
      ports.roleAssignments.create({
        scope: ids.keyVaultScope,
        name: roleAssignmentName(ids.keyVaultScope, roleId, p),
        roleDefinitionId: roleId,
        principalId: p,
        description: "x",
      }),
      "PrincipalNotFound",
    );
    expect(e.statusCode).toBe(400);
    expect(await emu.control.listRoleAssignments({ principalId: p })).toHaveLength(0);
  });

  it("delete removes the assignment; deleting it again is not an error", async () => {
    const roleId = await secretsUser();
    const p = await principal();
    const a = await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: roleId,
      principalId: p,
    });
    await ports.roleAssignments.delete(a.id);
    expect(await emu.control.listRoleAssignments({ principalId: p })).toHaveLength(0);
    await ports.roleAssignments.delete(a.id);
    const deletes = await emu.control.requestLog({ operation: "RoleAssignments_Delete" });
    expect(deletes.map((d) => d.status)).toEqual([200, 204]);
  });
});

describe("a freshly created identity (directory replication delay)", () => {
  it("RBAC accepts it because principalType is sent; Graph answers 404 → PrincipalNotFound until replicated", async () => {
    await emu.control.setReplicationDelay(60_000);
    const fresh = (await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" })).identity
      .principalId!;
    const roleId = (await ports.roleDefinitions.resolve(ids.keyVaultScope, "Key Vault Secrets User"))!.id;

    await ports.roleAssignments.create({
      scope: ids.keyVaultScope,
      name: roleAssignmentName(ids.keyVaultScope, roleId, fresh),
      roleDefinitionId: roleId,
      principalId: fresh,
      description: "x",
    });
    expect(await emu.control.listRoleAssignments({ principalId: fresh })).toHaveLength(1);

    const sp = ids.ordersApi.servicePrincipalId;
    await expectKind(
      ports.graph.createAppRoleAssignment(sp, fresh, ids.ordersApi.appRoles.AddRole),
      "PrincipalNotFound",
    );
    expect(await emu.control.listAppRoleAssignments({ principalId: fresh })).toHaveLength(0);

    await emu.control.setReplicationDelay(0);
    await ports.graph.createAppRoleAssignment(sp, fresh, ids.ordersApi.appRoles.AddRole);
    expect(await emu.control.listAppRoleAssignments({ principalId: fresh })).toHaveLength(1);
  });
});

describe("GraphPort (Microsoft Graph v1.0 over core-rest-pipeline)", () => {
  async function miPrincipal(): Promise<string> {
    return (await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" })).identity
      .principalId!;
  }

  it("finds the service principal by appId and by identifier URI; unknown is undefined", async () => {
    const byUri = await ports.graph.findServicePrincipal("api://orders");
    expect(byUri).toMatchObject({ id: ids.ordersApi.servicePrincipalId, appId: ids.ordersApi.appId });
    // The owner tenant is what tells tenancy a Microsoft first-party API from the customer's own.
    expect(byUri!.appOwnerOrganizationId).toBe(ids.tenantId);
    expect(byUri!.servicePrincipalNames).toContain("api://orders");
    expect(byUri!.appRoles.map((r) => r.value).sort()).toEqual(["AddRole", "ReadRole"]);
    expect(byUri!.appRoles.find((r) => r.value === "AddRole")!.id).toBe(ids.ordersApi.appRoles.AddRole);
    const byAppId = await ports.graph.findServicePrincipal(ids.ordersApi.appId);
    expect(byAppId?.id).toBe(ids.ordersApi.servicePrincipalId);
    expect(await ports.graph.findServicePrincipal("api://orders/")).toBeUndefined();
    expect(await ports.graph.findServicePrincipal("api://it's")).toBeUndefined();
    expect(await ports.graph.findServicePrincipal("00000000-0000-0000-0000-0000000000ff")).toBeUndefined();
  });

  it("creates, lists and deletes app role assignments; a duplicate is Exists", async () => {
    const p = await miPrincipal();
    const sp = ids.ordersApi.servicePrincipalId;
    const created = await ports.graph.createAppRoleAssignment(sp, p, ids.ordersApi.appRoles.AddRole);
    expect(created).toMatchObject({
      principalId: p,
      resourceId: sp,
      appRoleId: ids.ordersApi.appRoles.AddRole,
    });
    expect(await emu.control.listAppRoleAssignments({ resourceId: sp })).toEqual([
      expect.objectContaining({ id: created.id, principalId: p, appRoleId: ids.ordersApi.appRoles.AddRole }),
    ]);

    const dup = await expectKind(
      ports.graph.createAppRoleAssignment(sp, p, ids.ordersApi.appRoles.AddRole),
      "Exists",
    );
    expect(dup.statusCode).toBe(400);
    expect(await emu.control.listAppRoleAssignments({ resourceId: sp })).toHaveLength(1);

    expect(await ports.graph.listAppRoleAssignedTo(sp)).toEqual([created]);
    await ports.graph.deleteAppRoleAssignment(sp, created.id);
    expect(await emu.control.listAppRoleAssignments({ resourceId: sp })).toHaveLength(0);
    await ports.graph.deleteAppRoleAssignment(sp, created.id); // already gone: not an error
  });

  it("follows @odata.nextLink across pages", async () => {
    // The adapter asks for $top=999; a server that pages smaller must still be followed to the end.
    await emu.control.setConfig({ graphPageSize: 2, graphMaxPageSize: 2 });
    const sp = ids.ordersApi.servicePrincipalId;
    const principals: string[] = [];
    for (const n of ["a", "b", "c", "d", "e"]) {
      const u = await emu.control.seedUserAssignedIdentity({
        subscriptionId: ids.subscriptionId,
        resourceGroup: ids.resourceGroup,
        name: `id-${n}`,
      });
      principals.push(u.principalId);
      await emu.control.seedAppRoleAssignment({
        resourceId: sp,
        principalId: u.principalId,
        appRoleId: ids.ordersApi.appRoles.ReadRole,
      });
    }
    const listed = await ports.graph.listAppRoleAssignedTo(sp);
    expect(listed.map((a) => a.principalId).sort()).toEqual([...principals].sort());
    expect(await wire("AppRoleAssignedTo_List")).toBe(3);
    expect(calls.filter((c) => c.operation === "appRoleAssignedTo.list")).toHaveLength(3);
  });

  it("lists 250 assignments in one request ($top=999), where Graph's default page of 100 needs three", async () => {
    const sp = ids.ordersApi.servicePrincipalId;
    for (let i = 0; i < 250; i++) {
      const { id } = await emu.control.seedServicePrincipal({ displayName: `client-${i}` });
      await emu.control.seedAppRoleAssignment({
        resourceId: sp,
        principalId: id,
        appRoleId: ids.ordersApi.appRoles.ReadRole,
      });
    }
    const listed = await ports.graph.listAppRoleAssignedTo(sp);
    expect(listed).toHaveLength(250);
    expect(new Set(listed.map((a) => a.id)).size).toBe(250);
    const sent = await emu.control.requestLog({ operation: "AppRoleAssignedTo_List" });
    expect(sent).toHaveLength(1);
    expect(decodeURIComponent(sent[0]!.query)).toContain("$top=999");
  });

  it("404 for a fresh principal on create → PrincipalNotFound", async () => {
    const p = await miPrincipal();
    await emu.control.injectFault({
      match: { operation: "AppRoleAssignedTo_Create" },
      action: { kind: "principalNotFound" },
      count: 1,
    });
    const e = await expectKind(
      ports.graph.createAppRoleAssignment(
        ids.ordersApi.servicePrincipalId,
        p,
        ids.ordersApi.appRoles.AddRole,
      ),
      "PrincipalNotFound",
    );
    expect(e.statusCode).toBe(404);
    expect(await emu.control.listAppRoleAssignments({ principalId: p })).toHaveLength(0);
  });

  it("429 with Retry-After reaches the adapter once, with retryAfterMs", async () => {
    await emu.control.injectFault({
      match: { api: "graph" },
      action: { kind: "status", status: 429, retryAfterSeconds: 3 },
      count: 1,
    });
    const e = await expectKind(ports.graph.findServicePrincipal("api://orders"), "Throttled");
    expect(e.retryAfterMs).toBe(3000);
    expect(e.service).toBe("graph");
    expect(await wire("ServicePrincipals_List")).toBe(1);
  });
});

describe("ApimPort (arm-apimanagement, rawxml)", () => {
  const EXPR =
    '<policies><inbound><base /><set-header name="x" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("a","") != "" && 1 < 2 ? "y" : "z")</value></set-header><!-- keep me --></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>';

  it("checkTarget names the missing service, product, api or operation", async () => {
    const { serviceId, apiId, operationId, productId } = ids.apim;
    expect(await ports.apim.checkTarget({ serviceId })).toEqual({ exists: true });
    expect(await ports.apim.checkTarget({ serviceId, apiId, operationId })).toEqual({ exists: true });
    expect(await ports.apim.checkTarget({ serviceId, productId })).toEqual({ exists: true });
    expect(await ports.apim.checkTarget({ serviceId: serviceId.replace("apim-orders", "apim-x") })).toEqual({
      exists: false,
      missing: "service 'apim-x'",
    });
    expect(await ports.apim.checkTarget({ serviceId, productId: "gold" })).toEqual({
      exists: false,
      missing: "product 'gold'",
    });
    expect(await ports.apim.checkTarget({ serviceId, apiId: "nope" })).toEqual({
      exists: false,
      missing: "api 'nope'",
    });
    expect(await ports.apim.checkTarget({ serviceId, apiId, operationId: "delete-order" })).toEqual({
      exists: false,
      missing: "operation 'orders-api/delete-order'",
    });
  });

  it.each([
    ["service", {}],
    ["product", { productId: "orders-product" }],
    ["api", { apiId: "orders-api" }],
    ["operation", { apiId: "orders-api", operationId: "create-order" }],
  ] as const)("%s policy: rawxml round-trip keeps expressions byte-for-byte", async (_scope, where) => {
    const target = { serviceId: ids.apim.serviceId, ...where };
    expect(await ports.apim.getPolicy(target)).toBeUndefined();

    const put = await ports.apim.putPolicy(target, EXPR, "*");
    expect(put.xml).toBe(EXPR);
    expect(put.etag).not.toBe("");
    expect((await emu.control.getPolicyRaw(target))?.xml).toBe(EXPR);

    const got = await ports.apim.getPolicy(target);
    expect(got).toEqual({ xml: EXPR, etag: put.etag });
    const log = await emu.control.requestLog();
    expect(
      log
        .filter((l) => l.method === "GET" && /policies\/policy$/i.test(l.path))
        .every((l) => /format=rawxml/.test(l.query)),
    ).toBe(true);
  });

  it("a stale If-Match → PreconditionFailed, and the document is unchanged", async () => {
    const target = { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId };
    const first = await ports.apim.putPolicy(target, EXPR, "*");
    const edited = EXPR.replace("<!-- keep me -->", "<!-- portal edit -->");
    await emu.control.putPolicyRaw(target, edited);
    const e = await expectKind(ports.apim.putPolicy(target, EXPR, first.etag), "PreconditionFailed");
    expect(e.statusCode).toBe(412);
    expect((await emu.control.getPolicyRaw(target))?.xml).toBe(edited);
    await expectKind(ports.apim.deletePolicy(target, first.etag), "PreconditionFailed");

    const current = (await ports.apim.getPolicy(target))!;
    const second = await ports.apim.putPolicy(target, EXPR, current.etag);
    expect(second.etag).not.toBe(current.etag);
    await ports.apim.deletePolicy(target, second.etag);
    expect(await emu.control.getPolicyRaw(target)).toBeNull();
    expect(await ports.apim.getPolicy(target)).toBeUndefined();
    await ports.apim.deletePolicy(target, "*"); // already gone
  });

  it("a policy PUT without If-Match only creates: on an existing document it is PreconditionFailed, nothing changes", async () => {
    const target = { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId };
    const created = await ports.apim.putPolicy(target, EXPR, undefined);
    expect((await emu.control.getPolicyRaw(target))?.etag).toBe(created.etag);
    const edited = EXPR.replace("<!-- keep me -->", "<!-- someone else -->");
    await emu.control.putPolicyRaw(target, edited);
    const e = await expectKind(ports.apim.putPolicy(target, EXPR, undefined), "PreconditionFailed");
    expect(e.statusCode).toBe(400);
    expect((await emu.control.getPolicyRaw(target))?.xml).toBe(edited);
  });

  it("fragments: put (long-running), get rawxml with etag and description, delete", async () => {
    const xml =
      '<fragment><validate-jwt header-name="Authorization"><audiences><audience>api://orders</audience></audiences><required-claims><claim name="roles" match="any"><value>Add&amp;Role</value></claim></required-claims></validate-jwt><set-variable name="t" value="@(context.Variables.ContainsKey(\'a\') && 1 < 2)" /></fragment>';
    const serviceId = ids.apim.serviceId;
    expect(await ports.apim.getFragment(serviceId, "laio-ns-jwt")).toBeUndefined();
    await ports.apim.putFragment(serviceId, "laio-ns-jwt", xml, "owned by laio");
    const stored = await emu.control.listPolicyFragments(serviceId);
    expect(stored).toEqual([
      expect.objectContaining({ fragmentId: "laio-ns-jwt", description: "owned by laio", xml }),
    ]);
    const got = await ports.apim.getFragment(serviceId, "laio-ns-jwt");
    expect(got).toEqual({ xml, etag: stored[0]!.etag, description: "owned by laio" });
    await ports.apim.putFragment(
      serviceId,
      "laio-ns-jwt",
      xml.replace("Add&amp;Role", "ReadRole"),
      "v2",
      got!.etag,
    );
    const updated = (await ports.apim.getFragment(serviceId, "laio-ns-jwt"))!;
    expect(updated.xml).toContain("ReadRole");
    expect(updated.description).toBe("v2");
    await ports.apim.deleteFragment(serviceId, "laio-ns-jwt", updated.etag);
    expect(await emu.control.listPolicyFragments(serviceId)).toEqual([]);
    await ports.apim.deleteFragment(serviceId, "laio-ns-jwt", "*"); // already gone
  });

  it("fragments: no If-Match creates only, a stale tag never overwrites or deletes (PreconditionFailed)", async () => {
    const serviceId = ids.apim.serviceId;
    const xml = (v: string) =>
      `<fragment><set-header name="x" exists-action="override"><value>${v}</value></set-header></fragment>`;
    await emu.control.seedPolicyFragment({
      serviceId,
      fragmentId: "laio-other",
      xml: xml("theirs"),
      description: "someone else's",
    });
    const theirs = (await emu.control.listPolicyFragments(serviceId))[0]!;

    const e = await expectKind(
      ports.apim.putFragment(serviceId, "laio-other", xml("ours"), "ours"),
      "PreconditionFailed",
    );
    expect(e.statusCode).toBe(400);
    await expectKind(
      ports.apim.putFragment(serviceId, "laio-other", xml("ours"), "ours", '"AAAAAAAAAAA="'),
      "PreconditionFailed",
    );
    await expectKind(
      ports.apim.deleteFragment(serviceId, "laio-other", '"AAAAAAAAAAA="'),
      "PreconditionFailed",
    );
    expect(await emu.control.listPolicyFragments(serviceId)).toEqual([theirs]);

    // A tag on a fragment that is not there does not create it.
    await expectKind(
      ports.apim.putFragment(serviceId, "laio-new", xml("ours"), "ours", theirs.etag),
      "PreconditionFailed",
    );
    expect((await emu.control.listPolicyFragments(serviceId)).map((f) => f.fragmentId)).toEqual([
      "laio-other",
    ]);
  });
});

describe("transport: SDK retries off (reads: ADR 0026), failures classified, every request observed", () => {
  it("a 503 reaches the adapter once as Transient", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 503, retryAfterSeconds: 1 },
      count: 1,
    });
    const e = await expectKind(ports.logicApps.observe(ids.logicAppId), "Transient");
    expect(e.statusCode).toBe(503);
    expect(e.retryAfterMs).toBe(1000);
    expect(await wire("Workflows_Get")).toBe(1);
  });

  it("a 429 with Retry-After reaches the adapter once as Throttled with retryAfterMs", async () => {
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_ListForScope" },
      action: { kind: "status", status: 429, retryAfterSeconds: 17 },
      count: 1,
    });
    const started = Date.now();
    const e = await expectKind(ports.roleAssignments.listAtScope(ids.keyVaultScope), "Throttled");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.retryAfterMs).toBe(17_000);
    expect(e.service).toBe("arm-authorization");
    expect(await wire("RoleAssignments_ListForScope")).toBe(1);
    expect(calls.filter((c) => c.service === "arm-authorization")).toEqual([
      expect.objectContaining({ operation: "roleAssignments.listForScope", statusCode: 429 }),
    ]);
  });

  it("retry-after-ms is honoured as milliseconds", async () => {
    await emu.control.injectFault({
      match: { operation: "UserAssignedIdentities_Get" },
      action: { kind: "status", status: 429, retryAfterMs: 250 },
      count: 1,
    });
    const e = await expectKind(
      ports.userAssignedIdentities.observe(
        `${ids.resourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x`,
      ),
      "Throttled",
    );
    expect(e.retryAfterMs).toBe(250);
  });

  it("a connection reset and a timeout are Transient", async () => {
    // Reads are tried three times (ADR 0026): three resets exhaust them.
    await emu.control.injectFault({ match: { operation: "Api_Get" }, action: { kind: "reset" }, count: 3 });
    const reset = await expectKind(
      ports.apim.checkTarget({ serviceId: ids.apim.serviceId, apiId: ids.apim.apiId }),
      "Transient",
    );
    expect(reset.statusCode).toBeUndefined();
    expect(await wire("Api_Get")).toBe(3);

    const impatient = makePorts({ requestTimeoutMs: 300, readRetry: { maxRetries: 0 } });
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "timeout" },
      count: 1,
    });
    await expectKind(impatient.logicApps.observe(ids.logicAppId), "Transient");
    expect(calls.at(-1)).toMatchObject({
      service: "arm-logic",
      operation: "workflows.get",
      statusCode: undefined,
    });
  });

  it("403 is Forbidden (a person must grant access)", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 403, code: "AuthorizationFailed", message: "no" },
      count: 1,
    });
    const e = await expectKind(ports.logicApps.observe(ids.logicAppId), "Forbidden");
    expect(e.needsPerson).toBe(true);
    expect(e.code).toBe("AuthorizationFailed");
  });

  it("reports each request with service, operation, status and duration", async () => {
    await ports.logicApps.observe(ids.logicAppId);
    await ports.graph.findServicePrincipal("api://orders");
    await ports.apim.getPolicy({ serviceId: ids.apim.serviceId });
    expect(calls).toEqual([
      expect.objectContaining({ service: "arm-logic", operation: "workflows.get", statusCode: 200 }),
      expect.objectContaining({ service: "graph", operation: "servicePrincipals.list", statusCode: 200 }),
      expect.objectContaining({ service: "arm-apim", operation: "policy.get", statusCode: 404 }),
    ]);
    expect(calls.every((c) => c.durationMs >= 0)).toBe(true);
    const summary = await emu.control.requestSummary();
    expect(summary.total).toBe(calls.length);
  });
});
