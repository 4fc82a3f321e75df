/** Every error the operator must handle, reached through the real SDKs, surfaces as RestError with code and status. */
import { isRestError, type RestError } from "@azure/core-rest-pipeline";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../index.ts";
import { LogicManagementClient } from "@azure/arm-logic";
import { clients, credential, type Clients } from "./support.ts";
import { EXAMPLES } from "./examples-path.ts";

const CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const guid = () => crypto.randomUUID();

let emu: RunningEmulator;
let c: Clients;
let ids: ScenarioIds;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(() => emu.stop());
beforeEach(async () => {
  await emu.control.reset();
  await emu.control.setReplicationDelay(0);
  ids = await emu.control.seedScenario();
  c = clients(emu, { retries: false });
});

async function restError(p: Promise<unknown>): Promise<RestError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  // Not `instanceof`: some SDKs bundle their own copy of core-rest-pipeline (see docs/sdk-quirks.md).
  expect(isRestError(e), String(e)).toBe(true);
  expect((e as RestError).name).toBe("RestError");
  return e as RestError;
}

const rd = (id: string) =>
  `/subscriptions/${ids.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${id}`;

async function identityPrincipal(): Promise<string> {
  const view = await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
  return view.identity.principalId!;
}

describe("Microsoft.Authorization role assignments", () => {
  it("409 RoleAssignmentExists for the same scope, role and principal under another name", async () => {
    const principalId = await identityPrincipal();
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    const body = {
      roleDefinitionId: rd(CONTRIBUTOR),
      principalId,
      principalType: "ServicePrincipal" as const,
    };
    const first = guid();
    await ra.create(ids.keyVaultScope, first, body);
    const e = await restError(ra.create(ids.keyVaultScope, guid(), body));
    expect([e.statusCode, e.code]).toEqual([409, "RoleAssignmentExists"]);
    expect(e.message).toContain(first.replace(/-/g, ""));
  });

  it("400 RoleAssignmentUpdateNotPermitted when a name is reused for another principal, role or scope", async () => {
    const principalId = await identityPrincipal();
    const other = (await emu.control.seedServicePrincipal({ displayName: "other" })).id;
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    const name = guid();
    await ra.create(ids.keyVaultScope, name, {
      roleDefinitionId: rd(CONTRIBUTOR),
      principalId,
      principalType: "ServicePrincipal",
    });
    for (const p of [
      ra.create(ids.keyVaultScope, name, {
        roleDefinitionId: rd(CONTRIBUTOR),
        principalId: other,
        principalType: "ServicePrincipal",
      }),
      ra.create(ids.keyVaultScope, name, {
        roleDefinitionId: rd(READER),
        principalId,
        principalType: "ServicePrincipal",
      }),
      ra.create(ids.resourceGroupId, name, {
        roleDefinitionId: rd(CONTRIBUTOR),
        principalId,
        principalType: "ServicePrincipal",
      }),
    ]) {
      const e = await restError(p);
      expect([e.statusCode, e.code]).toEqual([400, "RoleAssignmentUpdateNotPermitted"]);
    }
  });

  it("400 PrincipalNotFound for a principal younger than the replication delay unless principalType is sent", async () => {
    await emu.control.setReplicationDelay(60_000);
    const principalId = await identityPrincipal();
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    const e = await restError(
      ra.create(ids.keyVaultScope, guid(), { roleDefinitionId: rd(CONTRIBUTOR), principalId }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "PrincipalNotFound"]);
    expect(e.message).toContain(principalId.replace(/-/g, ""));
    const ok = await ra.create(ids.keyVaultScope, guid(), {
      roleDefinitionId: rd(CONTRIBUTOR),
      principalId,
      principalType: "ServicePrincipal",
    });
    expect(ok.principalId).toBe(principalId);
  });

  it("400 PrincipalNotFound by injected fault, once", async () => {
    const principalId = await identityPrincipal();
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "principalNotFound" },
      count: 1,
    });
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    const body = {
      roleDefinitionId: rd(CONTRIBUTOR),
      principalId,
      principalType: "ServicePrincipal" as const,
    };
    const e = await restError(ra.create(ids.keyVaultScope, guid(), body));
    expect(e.code).toBe("PrincipalNotFound");
    await expect(ra.create(ids.keyVaultScope, guid(), body)).resolves.toBeTruthy();
  });

  it("400 InvalidRoleAssignmentId for a non-GUID name; 400 RoleDefinitionDoesNotExist; 404 RoleAssignmentNotFound", async () => {
    const principalId = await identityPrincipal();
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    let e = await restError(
      ra.create(ids.keyVaultScope, "not-a-guid", {
        roleDefinitionId: rd(CONTRIBUTOR),
        principalId,
        principalType: "ServicePrincipal",
      }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "InvalidRoleAssignmentId"]);
    e = await restError(
      ra.create(ids.keyVaultScope, guid(), {
        roleDefinitionId: rd(guid()),
        principalId,
        principalType: "ServicePrincipal",
      }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "RoleDefinitionDoesNotExist"]);
    e = await restError(ra.get(ids.keyVaultScope, guid()));
    expect([e.statusCode, e.code]).toEqual([404, "RoleAssignmentNotFound"]);
  });

  it("custom roles are assignable only at their assignableScopes", async () => {
    const principalId = await identityPrincipal();
    const role = await emu.control.seedRoleDefinition({
      roleName: "Orders Reader",
      assignableScopes: [ids.keyVaultScope],
    });
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    await ra.create(ids.keyVaultScope, guid(), {
      roleDefinitionId: rd(role.name),
      principalId,
      principalType: "ServicePrincipal",
    });
    const e = await restError(
      ra.create(ids.resourceGroupId, guid(), {
        roleDefinitionId: rd(role.name),
        principalId,
        principalType: "ServicePrincipal",
      }),
    );
    expect(e.code).toBe("RoleDefinitionDoesNotExist");
  });
});

describe("ARM common errors", () => {
  it("wrong api-version → 400 NoRegisteredProviderFound; unknown RG → 404 ResourceGroupNotFound; unknown workflow → 404 ResourceNotFound", async () => {
    const logic = c.logic(ids.subscriptionId);
    let e = await restError(
      new LogicManagementClient(credential, ids.subscriptionId, {
        endpoint: emu.url,
        tlsOptions: { ca: emu.caPem },
        apiVersion: "2099-01-01",
        retryOptions: { maxRetries: 0 },
      }).workflows.get(ids.resourceGroup, "orders-workflow"),
    );
    expect([e.statusCode, e.code]).toEqual([400, "NoRegisteredProviderFound"]);
    e = await restError(logic.workflows.get("no-such-rg", "orders-workflow"));
    expect([e.statusCode, e.code]).toEqual([404, "ResourceGroupNotFound"]);
    e = await restError(logic.workflows.get(ids.resourceGroup, "nope"));
    expect([e.statusCode, e.code]).toEqual([404, "ResourceNotFound"]);
  });

  it("missing bearer → 401 in each API's shape", async () => {
    const arm = await fetchNoAuth(
      `/subscriptions/${ids.subscriptionId}/resourceGroups/${ids.resourceGroup}/providers/Microsoft.Logic/workflows/orders-workflow?api-version=2019-05-01`,
    );
    expect(arm.status).toBe(401);
    expect(arm.body).toEqual({ error: { code: "AuthenticationFailed", message: expect.any(String) } });
    const graph = await fetchNoAuth("/v1.0/servicePrincipals");
    expect(graph.status).toBe(401);
    expect((graph.body as { error: { code: string } }).error.code).toBe("InvalidAuthenticationToken");
  });

  it("Consumption rejects system + user identities and more than one user-assigned identity", async () => {
    const u1 = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-1",
    });
    const u2 = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-2",
    });
    const logic = c.logic(ids.subscriptionId).workflows;
    const wf = await logic.get(ids.resourceGroup, "orders-workflow");
    let e = await restError(
      logic.createOrUpdate(ids.resourceGroup, "orders-workflow", {
        ...wf,
        identity: { type: "SystemAssigned, UserAssigned" as never, userAssignedIdentities: { [u1.id]: {} } },
      }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "InvalidIdentityType"]);
    e = await restError(
      logic.createOrUpdate(ids.resourceGroup, "orders-workflow", {
        ...wf,
        identity: { type: "UserAssigned", userAssignedIdentities: { [u1.id]: {}, [u2.id]: {} } },
      }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "InvalidIdentity"]);
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity.type).toBe("None");
  });
});

async function fetchNoAuth(path: string): Promise<{ status: number; body: unknown }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    request(`${emu.url}${path}`, { ca: emu.caPem }, (res) => {
      let t = "";
      res.on("data", (d: Buffer) => (t += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) }));
    })
      .on("error", reject)
      .end();
  });
}

describe("API Management", () => {
  it("404 for a missing API/operation/product/service, 412 on a stale If-Match, fragment delete refused while included", async () => {
    const apim = c.apim(ids.subscriptionId);
    const rg = ids.resourceGroup;
    let e = await restError(
      apim.apiPolicy.createOrUpdate(rg, "apim-orders", "missing-api", "policy", {
        value: "<policies />",
        format: "rawxml",
      }),
    );
    expect([e.statusCode, e.code]).toEqual([404, "ResourceNotFound"]);
    e = await restError(apim.apiOperation.get(rg, "apim-orders", "orders-api", "missing-op"));
    expect(e.statusCode).toBe(404);
    e = await restError(apim.product.get(rg, "apim-orders", "missing-product"));
    expect(e.statusCode).toBe(404);
    e = await restError(apim.api.get(rg, "no-such-service", "orders-api"));
    expect([e.statusCode, e.code]).toEqual([404, "ResourceNotFound"]);

    const first = await apim.apiPolicy.createOrUpdate(
      rg,
      "apim-orders",
      "orders-api",
      "policy",
      { value: "<policies><inbound><base /></inbound></policies>", format: "rawxml" },
      { ifMatch: "*" },
    );
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, apiId: "orders-api" },
      "<policies><inbound /></policies>",
    );
    e = await restError(
      apim.apiPolicy.createOrUpdate(
        rg,
        "apim-orders",
        "orders-api",
        "policy",
        { value: "<policies />", format: "rawxml" },
        { ifMatch: first.eTag! },
      ),
    );
    expect(e.statusCode).toBe(412);
    e = await restError(apim.apiPolicy.delete(rg, "apim-orders", "orders-api", "policy", first.eTag!));
    expect(e.statusCode).toBe(412);

    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: "jwt",
      xml: '<fragment><set-header name="x" exists-action="override"><value>1</value></set-header></fragment>',
    });
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, apiId: "orders-api" },
      '<policies><inbound><include-fragment fragment-id="jwt" /></inbound></policies>',
    );
    e = await restError(apim.policyFragment.delete(rg, "apim-orders", "jwt", "*"));
    expect([e.statusCode, e.code]).toEqual([409, "Conflict"]);
    await emu.control.deletePolicyRaw({ serviceId: ids.apim.serviceId, apiId: "orders-api" });
    await apim.policyFragment.delete(rg, "apim-orders", "jwt", "*");
    expect(await emu.control.listPolicyFragments(ids.apim.serviceId)).toEqual([]);
  });

  it("fragments: PUT without If-Match only creates, a tag must match the current one, `*` passes; DELETE likewise", async () => {
    const apim = c.apim(ids.subscriptionId);
    const rg = ids.resourceGroup;
    const svc = "apim-orders";
    const body = (v: string, description: string) => ({
      value: `<fragment><set-header name="x" exists-action="override"><value>${v}</value></set-header></fragment>`,
      format: "rawxml" as const,
      description,
    });
    const stored = async () => (await emu.control.listPolicyFragments(ids.apim.serviceId))[0];

    // A tag on a fragment that does not exist yet: nothing to match, nothing created.
    let e = await restError(
      apim.policyFragment.beginCreateOrUpdateAndWait(rg, svc, "jwt", body("0", "d0"), {
        ifMatch: '"AAAAAAAAAAE="',
      }),
    );
    expect(e.statusCode).toBe(412);
    expect(await stored()).toBeUndefined();

    await apim.policyFragment.beginCreateOrUpdateAndWait(rg, svc, "jwt", body("1", "owner=a"));
    const got = await apim.policyFragment.get(rg, svc, "jwt", { format: "rawxml" });
    expect(got.description).toBe("owner=a");
    expect(got.eTag).toBe((await stored())!.etag);

    // Without If-Match an existing fragment is never overwritten.
    e = await restError(apim.policyFragment.beginCreateOrUpdateAndWait(rg, svc, "jwt", body("2", "owner=b")));
    expect([e.statusCode, e.code]).toEqual([400, "EntityAlreadyExists"]);
    expect(await stored()).toMatchObject({ description: "owner=a", etag: got.eTag });

    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: "jwt",
      xml: body("3", "").value,
      description: "edited in the portal",
    });
    e = await restError(
      apim.policyFragment.beginCreateOrUpdateAndWait(rg, svc, "jwt", body("4", "owner=a"), {
        ifMatch: got.eTag!,
      }),
    );
    expect(e.statusCode).toBe(412);
    expect(await stored()).toMatchObject({ description: "edited in the portal" });
    const current = (await stored())!.etag;
    await apim.policyFragment.beginCreateOrUpdateAndWait(rg, svc, "jwt", body("5", "owner=a"), {
      ifMatch: current,
    });
    expect((await stored())!.xml).toContain("<value>5</value>");
    expect((await stored())!.etag).not.toBe(current);
    await apim.policyFragment.beginCreateOrUpdateAndWait(rg, svc, "jwt", body("6", "owner=a"), {
      ifMatch: "*",
    });
    expect((await stored())!.xml).toContain("<value>6</value>");

    e = await restError(apim.policyFragment.delete(rg, svc, "jwt", current));
    expect(e.statusCode).toBe(412);
    expect(await stored()).toBeDefined();
    await apim.policyFragment.delete(rg, svc, "jwt", (await stored())!.etag);
    expect(await stored()).toBeUndefined();
    // Gone: `*` is not an error; a tag cannot match anything (the conservative answer, docs/emulator.md).
    await apim.policyFragment.delete(rg, svc, "jwt", "*");
    e = await restError(apim.policyFragment.delete(rg, svc, "jwt", current));
    expect(e.statusCode).toBe(412);
  });

  it("400 ValidationError for a policy over 256 KiB or a fragment over 512 KiB; the control API may still seed one", async () => {
    const apim = c.apim(ids.subscriptionId);
    const big = (chars: number) => `<policies>${" ".repeat(chars - 21)}</policies>`;
    let e = await restError(
      apim.apiPolicy.createOrUpdate(
        ids.resourceGroup,
        "apim-orders",
        "orders-api",
        "policy",
        { value: big(256 * 1024 + 1), format: "rawxml" },
        { ifMatch: "*" },
      ),
    );
    expect([e.statusCode, e.code]).toEqual([400, "ValidationError"]);
    await apim.apiPolicy.createOrUpdate(
      ids.resourceGroup,
      "apim-orders",
      "orders-api",
      "policy",
      { value: big(256 * 1024), format: "rawxml" },
      { ifMatch: "*" },
    );
    const fragment = `<fragment>${" ".repeat(512 * 1024 - 20)}</fragment> `;
    e = await restError(
      apim.policyFragment.beginCreateOrUpdateAndWait(ids.resourceGroup, "apim-orders", "big", {
        value: fragment,
        format: "rawxml",
      }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "ValidationError"]);
    expect(await emu.control.listPolicyFragments(ids.apim.serviceId)).toEqual([]);
    const target = { serviceId: ids.apim.serviceId, apiId: "orders-api" };
    await emu.control.putPolicyRaw(target, big(300 * 1024));
    expect((await emu.control.getPolicyRaw(target))?.xml.length).toBe(300 * 1024);
  });

  it("400 ValidationError for malformed XML", async () => {
    const e = await restError(
      c
        .apim(ids.subscriptionId)
        .apiPolicy.createOrUpdate(ids.resourceGroup, "apim-orders", "orders-api", "policy", {
          value: "<policies><inbound></policies>",
          format: "xml",
        }),
    );
    expect([e.statusCode, e.code]).toEqual([400, "ValidationError"]);
  });
});

describe("Microsoft Graph", () => {
  const graphErrorShape = JSON.parse(
    readFileSync(join(EXAMPLES, "graph/graph-error-example.json"), "utf8"),
  ) as {
    error: { innerError: Record<string, string> };
  };

  async function assign(principalId: string) {
    return c.graph("POST", `/v1.0/servicePrincipals/${ids.ordersApi.servicePrincipalId}/appRoleAssignedTo`, {
      principalId,
      resourceId: ids.ordersApi.servicePrincipalId,
      appRoleId: ids.ordersApi.appRoles.AddRole,
    });
  }

  it("duplicate → 400 Request_BadRequest; unknown principal → 404 Request_ResourceNotFound; errors carry innerError", async () => {
    const principalId = await identityPrincipal();
    expect((await assign(principalId)).status).toBe(201);
    const dup = await assign(principalId);
    expect(dup.status).toBe(400);
    const err = (dup.json as { error: { code: string; message: string; innerError: Record<string, string> } })
      .error;
    expect([err.code, err.message]).toEqual([
      "Request_BadRequest",
      "Permission being assigned already exists on the object.",
    ]);
    for (const k of Object.keys(graphErrorShape.error.innerError)) expect(err.innerError).toHaveProperty(k);
    const unknown = await assign(guid());
    expect([unknown.status, (unknown.json as { error: { code: string } }).error.code]).toEqual([
      404,
      "Request_ResourceNotFound",
    ]);
  });

  it("a principal inside the replication delay is not found, then is", async () => {
    await emu.control.setReplicationDelay(300);
    const principalId = await identityPrincipal();
    expect((await assign(principalId)).status).toBe(404);
    expect((await c.graph("GET", `/v1.0/servicePrincipals/${principalId}`)).status).toBe(404);
    await new Promise((r) => setTimeout(r, 350));
    expect((await assign(principalId)).status).toBe(201);
  });
});
