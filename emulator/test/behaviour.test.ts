/** Azure behaviours the operator relies on: identity lifecycle, orphans, policy formats, ETags, throttling, faults. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../index.ts";
import { clients, type Clients } from "./support.ts";

const KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";

let emu: RunningEmulator;
let c: Clients;
let ids: ScenarioIds;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(() => emu.stop());
beforeEach(async () => {
  await emu.control.reset();
  await emu.control.setConfig({ replicationDelayMs: 0, throttling: { enabled: false } });
  ids = await emu.control.seedScenario();
  c = clients(emu);
});

async function setIdentityViaSdk(type: "SystemAssigned" | "None") {
  const wf = c.logic(ids.subscriptionId).workflows;
  const current = await wf.get(ids.resourceGroup, "orders-workflow");
  return wf.createOrUpdate(ids.resourceGroup, "orders-workflow", { ...current, identity: { type } });
}

async function spExists(id: string): Promise<boolean> {
  return (await c.graph("GET", `/v1.0/servicePrincipals/${id}`)).status === 200;
}

describe("Logic App identity transitions", () => {
  it("every None→SystemAssigned mints a new principal with a Graph SP; →None deletes it; changedTime moves", async () => {
    const first = await setIdentityViaSdk("SystemAssigned");
    const p1 = first.identity!.principalId!;
    expect(first.identity).toMatchObject({ type: "SystemAssigned", tenantId: ids.tenantId });
    const sp = (await c.graph("GET", `/v1.0/servicePrincipals/${p1}`)).json as {
      servicePrincipalType: string;
      alternativeNames: string[];
    };
    expect(sp.servicePrincipalType).toBe("ManagedIdentity");
    expect(sp.alternativeNames).toContain(ids.logicAppId);

    const again = await setIdentityViaSdk("SystemAssigned");
    expect(again.identity!.principalId).toBe(p1);

    const off = await setIdentityViaSdk("None");
    expect(off.identity?.type).toBe("None");
    expect(await spExists(p1)).toBe(false);
    const on = await setIdentityViaSdk("SystemAssigned");
    expect(on.identity!.principalId).not.toBe(p1);
    expect(await spExists(on.identity!.principalId!)).toBe(true);
    expect(Date.parse(on.changedTime!.toString())).toBeGreaterThanOrEqual(
      Date.parse(first.changedTime!.toString()),
    );
    expect(on.version).not.toBe(first.version);
  });

  it("the system identity is readable at {scope}/providers/Microsoft.ManagedIdentity/identities/default", async () => {
    const on = await setIdentityViaSdk("SystemAssigned");
    const si = await c.msi(ids.subscriptionId).systemAssignedIdentities.getByScope(ids.logicAppId);
    expect(si.principalId).toBe(on.identity!.principalId);
  });

  it("UserAssigned takes the UAMI's stable principal; PATCH sends no body and still bumps changedTime", async () => {
    const uami = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "orders-id",
    });
    const wf = c.logic(ids.subscriptionId).workflows;
    const current = await wf.get(ids.resourceGroup, "orders-workflow");
    const updated = await wf.createOrUpdate(ids.resourceGroup, "orders-workflow", {
      ...current,
      identity: { type: "UserAssigned", userAssignedIdentities: { [uami.id]: {} } },
    });
    expect(updated.identity!.userAssignedIdentities![uami.id]).toEqual({
      principalId: uami.principalId,
      clientId: uami.clientId,
    });
    const patched = await wf.update(ids.resourceGroup, "orders-workflow");
    expect(c.recorder.last("PATCH").status).toBe(200);
    expect(patched.version).not.toBe(updated.version);
    const got = await c.msi(ids.subscriptionId).userAssignedIdentities.get(ids.resourceGroup, "orders-id");
    expect(got.principalId).toBe(uami.principalId);
  });

  it("Standard logic apps take 'SystemAssigned, UserAssigned' by PATCH", async () => {
    const std = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "orders-std",
      kind: "Standard",
    });
    expect(std.identity.type).toBe("SystemAssigned");
    const uami = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "std-id",
    });
    const site = await c.web(ids.subscriptionId).webApps.update(ids.resourceGroup, "orders-std", {
      identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [uami.id]: {} } },
    });
    expect(site.kind).toBe("functionapp,workflowapp");
    expect(site.identity?.type).toBe("SystemAssigned, UserAssigned");
    expect(site.identity?.principalId).toBe(std.identity.principalId);
  });

  it("deleting and recreating a workflow gives a new principal; the old assignments stay listed as orphans", async () => {
    const on = await setIdentityViaSdk("SystemAssigned");
    const p1 = on.identity!.principalId!;
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    const rd = `/subscriptions/${ids.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${KV_SECRETS_USER}`;
    await ra.create(ids.keyVaultScope, crypto.randomUUID(), {
      roleDefinitionId: rd,
      principalId: p1,
      principalType: "ServicePrincipal",
    });
    await c.logic(ids.subscriptionId).workflows.delete(ids.resourceGroup, "orders-workflow");
    expect(await spExists(p1)).toBe(false);
    const wf = await c
      .logic(ids.subscriptionId)
      .workflows.createOrUpdate(ids.resourceGroup, "orders-workflow", {
        location: ids.location,
        identity: { type: "SystemAssigned" },
        definition: {},
      });
    expect(wf.identity!.principalId).not.toBe(p1);
    const listed = [];
    for await (const a of ra.listForScope(ids.keyVaultScope, { filter: `principalId eq '${p1}'` }))
      listed.push(a);
    expect(listed.map((a) => a.principalId)).toEqual([p1]);
    expect((await emu.control.listRoleAssignments({ principalId: p1 })).length).toBe(1);
  });
});

describe("role assignment listing", () => {
  it("atScope() returns at-or-above; no filter includes below; principalId filter; 201 then 200 on identical PUT", async () => {
    const { id: principalId } = await emu.control.seedServicePrincipal({ displayName: "caller" });
    const ra = c.authorization(ids.subscriptionId).roleAssignments;
    const rd = (g: string) =>
      `/subscriptions/${ids.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${g}`;
    const body = {
      roleDefinitionId: rd(KV_SECRETS_USER),
      principalId,
      principalType: "ServicePrincipal" as const,
    };
    const name = crypto.randomUUID();
    await ra.create(ids.keyVaultScope, name, body);
    expect(c.recorder.last("PUT").status).toBe(201);
    await ra.create(ids.keyVaultScope, name, body);
    expect(c.recorder.last("PUT").status).toBe(200);
    await ra.create(`/subscriptions/${ids.subscriptionId}`, crypto.randomUUID(), {
      ...body,
      roleDefinitionId: rd("acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    });
    const collect = async (it: AsyncIterable<{ scope?: string }>) => {
      const out: string[] = [];
      for await (const a of it) out.push(a.scope!);
      return out.sort();
    };
    expect(await collect(ra.listForResourceGroup(ids.resourceGroup))).toEqual(
      [`/subscriptions/${ids.subscriptionId}`, ids.keyVaultScope].sort(),
    );
    expect(await collect(ra.listForResourceGroup(ids.resourceGroup, { filter: "atScope()" }))).toEqual([
      `/subscriptions/${ids.subscriptionId}`,
    ]);
    expect(
      await collect(ra.listForSubscription({ filter: `principalId eq '${crypto.randomUUID()}'` })),
    ).toEqual([]);
    const defs = [];
    for await (const d of c
      .authorization(ids.subscriptionId)
      .roleDefinitions.list(ids.keyVaultScope, { filter: "roleName eq 'Key Vault Secrets User'" }))
      defs.push(d);
    expect(defs.map((d) => d.name)).toEqual([KV_SECRETS_USER]);
  });
});

describe("API Management policies", () => {
  const target = () => ({ serviceId: ids.apim.serviceId, apiId: "orders-api" });
  const raw =
    '<policies>\r\n <inbound>\r\n  <base />\r\n  <set-header name="x" exists-action="override"><value>@(context.Request.Headers.Any(h => h.Key == "a" && true))</value></set-header>\r\n </inbound>\r\n</policies>';

  it("format=xml is re-serialised and entity-escaped; rawxml is as stored; ETag on every read and write", async () => {
    const apim = c.apim(ids.subscriptionId);
    const put = await apim.apiPolicy.createOrUpdate(
      ids.resourceGroup,
      "apim-orders",
      "orders-api",
      "policy",
      { value: raw, format: "rawxml" },
    );
    expect(put.eTag).toMatch(/^"[A-Za-z0-9+/=]+"$/);
    expect(c.recorder.last("PUT").headers.etag).toBe(put.eTag);
    // apiPolicy.get() drops `value` (SDK quirk), so the wire bodies are read from the recorder.
    await apim.apiPolicy.get(ids.resourceGroup, "apim-orders", "orders-api", "policy");
    const xmlBody = c.recorder.last("GET").body as { properties: { value: string } };
    expect(xmlBody.properties.value).toContain('h =&gt; h.Key == "a" &amp;&amp; true');
    expect(xmlBody.properties.value).toContain("\r\n  <inbound>\r\n    <base />");
    await apim.apiPolicy.get(ids.resourceGroup, "apim-orders", "orders-api", "policy", { format: "rawxml" });
    expect(
      (c.recorder.last("GET").body as { properties: { value: string; format: string } }).properties,
    ).toEqual({ value: raw, format: "rawxml" });
    expect(c.recorder.last("GET").headers.etag).toBe(put.eTag);
    const head = await apim.apiPolicy.getEntityTag(ids.resourceGroup, "apim-orders", "orders-api", "policy");
    expect(head.eTag).toBe(put.eTag);
    expect((await emu.control.getPolicyRaw(target()))!.xml).toBe(raw);
  });

  it("a drifted policy changes the ETag; If-Match with the fresh ETag succeeds", async () => {
    const apim = c.apim(ids.subscriptionId);
    const first = await apim.apiPolicy.createOrUpdate(
      ids.resourceGroup,
      "apim-orders",
      "orders-api",
      "policy",
      { value: raw, format: "rawxml" },
      { ifMatch: "*" },
    );
    const drift = await emu.control.putPolicyRaw(target(), "<policies><inbound /></policies>");
    expect(drift.etag).not.toBe(first.eTag);
    const ok = await apim.apiPolicy.createOrUpdate(
      ids.resourceGroup,
      "apim-orders",
      "orders-api",
      "policy",
      { value: raw, format: "rawxml" },
      { ifMatch: drift.etag },
    );
    expect(c.recorder.last("PUT").status).toBe(200);
    await apim.apiPolicy.delete(ids.resourceGroup, "apim-orders", "orders-api", "policy", ok.eTag!);
    expect(await emu.control.getPolicyRaw(target())).toBeNull();
  });

  it("policies at service, product and operation scope; listByApi returns the value apiPolicy.get drops", async () => {
    const apim = c.apim(ids.subscriptionId);
    const rg = ids.resourceGroup;
    await apim.policy.createOrUpdate(rg, "apim-orders", "policy", {
      value: "<policies><inbound /></policies>",
      format: "rawxml",
    });
    await apim.productPolicy.createOrUpdate(rg, "apim-orders", "orders-product", "policy", {
      value: "<policies><inbound /></policies>",
      format: "rawxml",
    });
    await apim.apiOperationPolicy.createOrUpdate(rg, "apim-orders", "orders-api", "create-order", "policy", {
      value: raw,
      format: "rawxml",
    });
    expect(
      (
        await apim.apiOperationPolicy.get(rg, "apim-orders", "orders-api", "create-order", "policy", {
          format: "rawxml",
        })
      ).value,
    ).toBe(raw);
    expect((await apim.policy.get(rg, "apim-orders", "policy")).value).toContain("<inbound />");
    await apim.apiPolicy.createOrUpdate(rg, "apim-orders", "orders-api", "policy", {
      value: raw,
      format: "rawxml",
    });
    const quirk = await apim.apiPolicy.get(rg, "apim-orders", "orders-api", "policy");
    expect(quirk.value).toBeUndefined();
    const listed = await apim.apiPolicy.listByApi(rg, "apim-orders", "orders-api");
    expect(listed.value?.[0]?.value).toContain("<set-header");
  });

  it("fragments: PUT is an LRO the SDK polls, GET wraps in <fragment>", async () => {
    const apim = c.apim(ids.subscriptionId);
    const res = await apim.policyFragment.beginCreateOrUpdateAndWait(
      ids.resourceGroup,
      "apim-orders",
      "jwt-orders",
      {
        value: '<fragment><set-variable name="x" value="@(1 > 0)" /></fragment>',
        format: "rawxml",
        description: "jwt",
      },
    );
    expect(res.value).toBe('<fragment><set-variable name="x" value="@(1 &gt; 0)" /></fragment>');
    expect(c.recorder.exchanges.map((e) => `${e.method} ${e.status}`)).toEqual([
      "PUT 201",
      "GET 200",
      "GET 200",
    ]);
  });
});

describe("Graph service principals and app role assignments", () => {
  it("finds the API by appId, by identifier URI and by (appId='…'); paged appRoleAssignedTo; DELETE 204", async () => {
    const byAppId = await c.graph(
      "GET",
      `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`appId eq '${ids.ordersApi.appId}'`)}`,
    );
    expect((byAppId.json as { value: { id: string }[] }).value[0]!.id).toBe(ids.ordersApi.servicePrincipalId);
    const alt = await c.graph("GET", `/v1.0/servicePrincipals(appId='${ids.ordersApi.appId}')`);
    expect((alt.json as { appRoles: { value: string }[] }).appRoles.map((r) => r.value)).toEqual([
      "AddRole",
      "ReadRole",
    ]);
    await emu.control.setConfig({ graphPageSize: 2 });
    for (let i = 0; i < 5; i++) {
      const { id } = await emu.control.seedServicePrincipal({ displayName: `client-${i}` });
      await emu.control.seedAppRoleAssignment({
        resourceId: ids.ordersApi.servicePrincipalId,
        principalId: id,
        appRoleId: ids.ordersApi.appRoles.ReadRole,
      });
    }
    const seen: string[] = [];
    let next: string | undefined =
      `/v1.0/servicePrincipals/${ids.ordersApi.servicePrincipalId}/appRoleAssignedTo`;
    while (next) {
      const page = (await c.graph("GET", next)).json as {
        value: { id: string }[];
        "@odata.nextLink"?: string;
      };
      seen.push(...page.value.map((v) => v.id));
      next = page["@odata.nextLink"]?.replace(emu.url, "");
    }
    expect(seen).toHaveLength(5);
    // $top sets the page up to the server's cap (999 on Graph; 3 here), the default page applies without it.
    await emu.control.setConfig({ graphPageSize: 100, graphMaxPageSize: 3 });
    const base = `/v1.0/servicePrincipals/${ids.ordersApi.servicePrincipalId}/appRoleAssignedTo`;
    const sized = async (path: string) => {
      const page = (await c.graph("GET", path)).json as { value: unknown[]; "@odata.nextLink"?: string };
      return [page.value.length, page["@odata.nextLink"] !== undefined] as const;
    };
    expect(await sized(`${base}?$top=2`)).toEqual([2, true]);
    expect(await sized(`${base}?$top=999`)).toEqual([3, true]);
    expect(await sized(base)).toEqual([3, true]);
    await emu.control.setConfig({ graphMaxPageSize: 999 });
    expect(await sized(`${base}?$top=999`)).toEqual([5, false]);
    const del = await c.graph(
      "DELETE",
      `/v1.0/servicePrincipals/${ids.ordersApi.servicePrincipalId}/appRoleAssignedTo/${seen[0]}`,
    );
    expect(del.status).toBe(204);
    expect(
      await emu.control.listAppRoleAssignments({ resourceId: ids.ordersApi.servicePrincipalId }),
    ).toHaveLength(4);
  });
});

describe("throttling, faults and the request log", () => {
  it("reports x-ms-ratelimit-remaining-subscription-* and answers 429 + Retry-After when the bucket is empty", async () => {
    await emu.control.setConfig({
      throttling: { enabled: true, reads: { capacity: 3, refillPerSecond: 0.5 } },
    });
    const noRetry = clients(emu, { retries: false });
    const wf = noRetry.logic(ids.subscriptionId).workflows;
    await wf.get(ids.resourceGroup, "orders-workflow");
    expect(noRetry.recorder.last().headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("2");
    await wf.get(ids.resourceGroup, "orders-workflow");
    await wf.get(ids.resourceGroup, "orders-workflow");
    await expect(wf.get(ids.resourceGroup, "orders-workflow")).rejects.toMatchObject({
      statusCode: 429,
      code: "SubscriptionRequestsThrottled",
    });
    expect(noRetry.recorder.last().headers["retry-after"]).toBe("2");
    await wf.createOrUpdate(ids.resourceGroup, "w2", { location: ids.location, definition: {} });
    expect(noRetry.recorder.last().headers["x-ms-ratelimit-remaining-subscription-writes"]).toBe("199");
  });

  it("429 with Retry-After is retried by the default pipeline; without it the caller sees the 429", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 429, retryAfterSeconds: 1 },
      count: 1,
    });
    const started = Date.now();
    await c.logic(ids.subscriptionId).workflows.get(ids.resourceGroup, "orders-workflow");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(c.recorder.exchanges.map((e) => e.status)).toEqual([429, 200]);

    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 429 },
      count: 1,
    });
    await expect(
      c.logic(ids.subscriptionId).workflows.get(ids.resourceGroup, "orders-workflow"),
    ).rejects.toMatchObject({ statusCode: 429 });
    const summary = await emu.control.requestSummary();
    expect(summary.operations.Workflows_Get!.byStatus).toEqual({ "200": 1, "429": 2 });
  });

  it("500/503, connection reset and timeout faults; latency; the log counts per operation and status", async () => {
    await emu.control.resetLog();
    const noRetry = clients(emu, { retries: false });
    const wf = noRetry.logic(ids.subscriptionId).workflows;
    await emu.control.injectFault({
      match: { operation: "Workflows_*" },
      action: { kind: "status", status: 503 },
      count: 1,
    });
    await expect(wf.get(ids.resourceGroup, "orders-workflow")).rejects.toMatchObject({ statusCode: 503 });
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "reset" },
      count: 1,
    });
    await expect(wf.get(ids.resourceGroup, "orders-workflow")).rejects.toMatchObject({ code: "ECONNRESET" });
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "timeout" },
      count: 1,
    });
    await expect(
      wf.get(ids.resourceGroup, "orders-workflow", { requestOptions: { timeout: 200 } }),
    ).rejects.toBeTruthy();
    await emu.control.injectFault({
      match: { method: "GET", pathContains: "orders-workflow" },
      action: { kind: "latency", ms: 150 },
      count: 1,
    });
    const t = Date.now();
    await wf.get(ids.resourceGroup, "orders-workflow");
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
    expect(await emu.control.listFaults()).toEqual([]);
    const summary = await emu.control.requestSummary();
    expect(summary.operations.Workflows_Get!.byStatus).toEqual({ "503": 1, reset: 1, timeout: 1, "200": 1 });
    const log = await emu.control.requestLog({ operation: "Workflows_Get" });
    expect(log.every((e) => e.bearer === "emulator-test-token")).toBe(true);
  });

  it("snapshots round-trip the world", async () => {
    const snap = await emu.control.snapshot();
    await emu.control.reset();
    expect(await emu.control.listLogicApps()).toEqual([]);
    await emu.control.loadSnapshot(snap);
    expect((await emu.control.listLogicApps()).map((a) => a.name)).toEqual(["orders-workflow"]);
  });
});
