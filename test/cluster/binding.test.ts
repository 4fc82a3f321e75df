/**
 * LogicAppIdentityBinding end to end: the operator in-process against the real kube-apiserver and the Azure
 * emulator (real @azure/* SDK clients over HTTPS). Assertions are on the world: what the emulator holds
 * (assignments, identities) and what kubectl shows (status, conditions, columns).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  BINDING_KIND,
  FINALIZER,
  GROUP,
  VERSION,
  findCondition,
  type BindingSpec,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { roleAssignmentName } from "../../src/azure/naming.ts";
import { BINDING_RESOURCE } from "../../src/controllers/binding/reconciler.ts";
import { KubeClient, isNotFound } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, kubeConfig, kubectl, waitUntil } from "../support/kube.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { startTestOperator } from "../support/operator.ts";

const KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";

let kubeconfigPath: string;
let emu: RunningEmulator;
let client: KubeClient;
let ns: string;
let ids: ScenarioIds;
let manager: Manager | undefined;
/**
 * The operator's ownership records and claims, fresh for each test: every test seeds the same Logic App, and a
 * binding an earlier test left behind would otherwise still hold its claim.
 */
let recordsNs: string;

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  client = new KubeClient(kubeConfig(kubeconfigPath));
  emu = await startEmulator();
});

afterAll(async () => {
  client?.close();
  await emu?.stop();
});

beforeEach(async () => {
  await emu.control.reset();
  ids = await emu.control.seedScenario();
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "bind");
  recordsNs = await freshNamespace(kubeConfig(kubeconfigPath), "records");
  // Tenancy is enforced: the namespace's policy allows what the scenario does (the normal path).
  await applyAccessPolicy(client, scenarioPolicy(ns, ids));
  await startOperator();
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  await deleteAccessPolicy(client, `scenario-${ns}`);
});

async function startOperator(): Promise<void> {
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns,
    emulator: emu,
    recordsNamespace: recordsNs,
  });
}

function seedSpec(over: Partial<BindingSpec> = {}): BindingSpec {
  return {
    logicAppId: ids.logicAppId,
    identity: { type: "SystemAssigned" },
    roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
    appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
    ...over,
  };
}

async function createBinding(name: string, spec: BindingSpec): Promise<void> {
  const body: LogicAppIdentityBinding = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: BINDING_KIND,
    metadata: { name, namespace: ns },
    spec,
  };
  await client.create(BINDING_RESOURCE, ns, body);
}

/** Waits until the binding is deleted (its finalizer released). */
async function gone(name: string): Promise<void> {
  await waitUntil(
    `${name} gone`,
    async () =>
      getBinding(name).then(
        () => false,
        (e) => isNotFound(e),
      ),
    30_000,
  );
}

const getBinding = (name: string) =>
  client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name });

async function waitFor(
  name: string,
  check: (b: LogicAppIdentityBinding) => boolean,
  what: string,
  timeoutMs = 30_000,
) {
  let last: LogicAppIdentityBinding | undefined;
  await waitUntil(
    `${name}: ${what}`,
    async () => {
      last = await getBinding(name);
      return check(last);
    },
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
  });
  return last!;
}

const ready = (b: LogicAppIdentityBinding) => findCondition(b.status?.conditions, "Ready")?.status === "True";
const stalledWith = (reason: string) => (b: LogicAppIdentityBinding) =>
  findCondition(b.status?.conditions, "Stalled")?.status === "True" &&
  findCondition(b.status?.conditions, "Stalled")?.reason === reason;

async function principalOf(logicAppId: string): Promise<string | undefined> {
  return (await emu.control.getLogicApp(logicAppId)).identity.principalId;
}

describe("LogicAppIdentityBinding on a real API server and the Azure emulator", () => {
  it("seed scenario: enables the identity, grants Key Vault and the app role, and reports Ready", async () => {
    await createBinding("orders", seedSpec());
    const wait = await kubectl(kubeconfigPath, [
      "wait",
      "--for=condition=Ready",
      "--timeout=60s",
      "-n",
      ns,
      "identitybinding/orders",
    ]);
    expect(wait.stderr).toBe("");
    expect(wait.code).toBe(0);

    const principal = await principalOf(ids.logicAppId);
    expect(principal).toMatch(/^[0-9a-f-]{36}$/);
    const b = await getBinding("orders");
    expect(b.status).toMatchObject({
      principalId: principal,
      tenantId: ids.tenantId,
      identityType: "SystemAssigned",
      identityEnabledByOperator: true,
      grants: "2/2",
      observedGeneration: 1,
    });
    expect(b.metadata.finalizers).toContain(FINALIZER);

    // The world: one RBAC assignment with the deterministic name, sent as a ServicePrincipal, and one app role.
    const ras = await emu.control.listRoleAssignments({ principalId: principal });
    expect(ras).toHaveLength(1);
    expect(ras[0]!.name).toBe(
      roleAssignmentName(ids.keyVaultScope, ras[0]!.properties.roleDefinitionId, principal!),
    );
    expect(ras[0]!.properties.roleDefinitionId.toLowerCase()).toContain(KV_SECRETS_USER);
    expect(ras[0]!.properties.principalType).toBe("ServicePrincipal");
    expect(ras[0]!.properties.description).toContain(`binding=${ns}/orders`);
    const aras = await emu.control.listAppRoleAssignments({ principalId: principal });
    expect(aras.map((a) => a.appRoleId)).toEqual([ids.ordersApi.appRoles.AddRole]);

    const table = await kubectl(kubeconfigPath, ["get", "identitybindings", "-n", ns]);
    expect(table.stdout).toMatch(new RegExp(`orders\\s+True\\s+Ready\\s+${principal}\\s+2/2`));
  });

  it("/metrics reports the Azure calls, reconciles and heals with bounded labels", async () => {
    await manager!.stop();
    manager = await startTestOperator({
      kubeconfigPath,
      namespace: ns,
      emulator: emu,
      recordsNamespace: recordsNs,
      metrics: true,
    });
    await createBinding("orders", seedSpec());
    await waitFor("orders", ready, "Ready");
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "None" });
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    const fresh = (await principalOf(ids.logicAppId))!;
    await waitFor("orders", (b) => ready(b) && b.status?.principalId === fresh, "healed");
    const text = await (await fetch(`http://127.0.0.1:${manager!.metricsPort}/metrics`)).text();
    expect(text).toMatch(
      /laio_external_calls_total\{service="arm-authorization",operation="[^"]+",status_code="201"\} [1-9]/,
    );
    expect(text).toMatch(
      /laio_external_calls_total\{service="graph",operation="[^"]+",status_code="201"\} [1-9]/,
    );
    expect(text).toMatch(/laio_reconcile_total\{kind="LogicAppIdentityBinding",result="[a-z_]+"\} [1-9]/);
    expect(text).toMatch(/laio_heals_total\{kind="LogicAppIdentityBinding",facet="identity"\} 1/);
    // No principal IDs, scopes or other unbounded values in label values.
    expect(text).not.toContain(fresh);
    expect(text).not.toContain(ids.keyVaultScope);
  });

  it("steady state performs reads only", async () => {
    await createBinding("orders", seedSpec());
    await waitFor("orders", ready, "Ready");
    await new Promise((r) => setTimeout(r, 1500));
    await emu.control.resetLog();
    await new Promise((r) => setTimeout(r, 3500)); // several 1 s resyncs
    const log = await emu.control.requestLog();
    expect(log.length).toBeGreaterThan(0);
    expect(log.filter((e) => e.method !== "GET" && !e.path.startsWith("/_emulator"))).toEqual([]);
  });

  it("identity disabled and re-enabled: heals onto the new principal, sweeps only its own orphans", async () => {
    await createBinding("orders", seedSpec());
    const before = await waitFor("orders", ready, "Ready");
    const oldPrincipal = before.status!.principalId!;
    // Someone else's grant at the same scope, and an assignment of the old principal made by hand: not ours.
    const foreign = await emu.control
      .seedRoleAssignment({
        scope: ids.keyVaultScope,
        roleDefinitionId: KV_SECRETS_USER,
        principalId: oldPrincipal.replace(/^.{8}/, "aaaaaaaa"),
      })
      .catch(() => undefined);
    const handMade = await emu.control.seedRoleAssignment({
      scope: ids.resourceGroupId,
      roleDefinitionId: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
      principalId: oldPrincipal,
    });

    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "None" });
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    const newPrincipal = (await principalOf(ids.logicAppId))!;
    expect(newPrincipal).not.toBe(oldPrincipal);

    const healed = await waitFor(
      "orders",
      (b) =>
        ready(b) &&
        b.status?.principalId === newPrincipal &&
        (b.status?.roleAssignments ?? []).every((r) => r.principalId === newPrincipal),
      "healed and swept",
    );
    expect(healed.status?.lastHeal, JSON.stringify(healed.status)).toMatchObject({
      previousPrincipalId: oldPrincipal,
      principalId: newPrincipal,
      regranted: 2,
      // Both grants the old principal held are accounted for: the role assignment, which Azure keeps listed
      // ("Identity not found"), was swept; the app-role assignment went with the deleted principal.
      swept: 2,
    });

    // New principal holds everything; the old principal's grants made by this binding are gone.
    expect(await emu.control.listRoleAssignments({ principalId: newPrincipal })).toHaveLength(1);
    expect((await emu.control.listAppRoleAssignments({ principalId: newPrincipal })).length).toBe(1);
    const oldLeft = await emu.control.listRoleAssignments({ principalId: oldPrincipal });
    expect(oldLeft.map((r) => r.name)).toEqual([handMade.name]);
    expect(await emu.control.listAppRoleAssignments({ principalId: oldPrincipal })).toEqual([]);
    if (foreign)
      expect(
        (await emu.control.listRoleAssignments({ scope: ids.keyVaultScope })).map((r) => r.name),
      ).toContain(foreign.name);

    const events = await kubectl(kubeconfigPath, [
      "get",
      "events.events.k8s.io",
      "-n",
      ns,
      "-o",
      "jsonpath={.items[*].reason}",
    ]);
    expect(events.stdout).toContain("IdentityRecreated");
    expect(events.stdout).toContain("OrphanSwept");
    await waitUntil("Healed event", async () => {
      const r = await kubectl(kubeconfigPath, [
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].reason}",
      ]);
      return r.stdout.includes("Healed");
    });
  });

  it("Standard Logic App with a user-assigned identity: attached next to the system one, swapped back when changed", async () => {
    const site = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "invoices-app",
      kind: "Standard",
      identity: { type: "SystemAssigned" },
    });
    const systemPrincipal = site.identity.principalId;
    const uami = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-invoices",
    });
    const other = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-other",
    });
    await createBinding(
      "invoices",
      seedSpec({ logicAppId: site.id, identity: { type: "UserAssigned", userAssignedIdentityId: uami.id } }),
    );
    const b = await waitFor("invoices", ready, "Ready");
    expect(b.status).toMatchObject({
      identityType: "UserAssigned",
      principalId: uami.principalId,
      clientId: uami.clientId,
      identityEnabledByOperator: false,
    });
    const after = await emu.control.getLogicApp(site.id);
    expect(after.identity.type).toBe("SystemAssigned, UserAssigned");
    expect(after.identity.principalId).toBe(systemPrincipal); // the site's own identity is untouched
    expect((await emu.control.listRoleAssignments({ principalId: uami.principalId })).length).toBe(1);

    // Someone swaps our identity for another one: it is attached again (the other one stays on a Standard app).
    await emu.control.setLogicAppIdentity(site.id, {
      type: "SystemAssigned, UserAssigned",
      userAssignedIdentities: [other.id],
    });
    await waitUntil(
      "identity attached again",
      async () => {
        const la = await emu.control.getLogicApp(site.id);
        return la.identity.userAssignedIdentities.some((id) => id.toLowerCase() === uami.id.toLowerCase());
      },
      20_000,
    );
  });

  it("changing the spec from SystemAssigned to UserAssigned moves every grant to the user-assigned principal", async () => {
    await createBinding("orders", seedSpec());
    const before = await waitFor("orders", ready, "Ready");
    const systemPrincipal = before.status!.principalId!;
    const uami = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "id-orders",
    });
    await client.patch(
      BINDING_RESOURCE,
      { namespace: ns, name: "orders" },
      {
        spec: { identity: { type: "UserAssigned", userAssignedIdentityId: uami.id } },
      },
    );
    const after = await waitFor(
      "orders",
      (b) =>
        ready(b) &&
        b.status?.principalId === uami.principalId &&
        (b.status?.roleAssignments ?? []).every((r) => r.principalId === uami.principalId),
      "moved to the user-assigned identity",
    );
    expect(after.status).toMatchObject({
      identityType: "UserAssigned",
      clientId: uami.clientId,
      identityEnabledByOperator: false,
      grants: "2/2",
    });
    const la = await emu.control.getLogicApp(ids.logicAppId);
    expect(la.identity.type).toBe("UserAssigned"); // the system identity this binding turned on is gone
    expect(await emu.control.listRoleAssignments({ principalId: systemPrincipal })).toEqual([]);
    expect(await emu.control.listRoleAssignments({ principalId: uami.principalId })).toHaveLength(1);
    expect(await emu.control.listAppRoleAssignments({ principalId: uami.principalId })).toHaveLength(1);
  });

  it("an identifier URI that differs from the registration by a trailing slash raises AudienceWarning", async () => {
    await createBinding(
      "slash",
      seedSpec({ appRoleAssignments: [{ api: "api://orders/", appRole: "AddRole" }] }),
    );
    const b = await waitFor(
      "slash",
      (x) => findCondition(x.status?.conditions, "AudienceWarning")?.status === "True",
      "AudienceWarning",
    );
    expect(findCondition(b.status?.conditions, "AudienceWarning")?.message).toContain("'api://orders'");
  });

  it("a grant deleted in Azure is restored, and the identity turned off is turned back on", async () => {
    await createBinding("orders", seedSpec());
    const b = await waitFor("orders", ready, "Ready");
    const principal = b.status!.principalId!;
    const ra = (await emu.control.listRoleAssignments({ principalId: principal }))[0]!;
    await emu.control.deleteRoleAssignment(ra.id);
    await waitUntil(
      "assignment restored",
      async () => (await emu.control.listRoleAssignments({ principalId: principal })).length === 1,
      20_000,
    );
    // Events are recorded once the pass ends, which (with the ownership record written after the create) can be
    // a moment after Azure shows the assignment.
    let reasons = "";
    await waitUntil(
      "DriftRepaired event",
      async () => {
        const events = await kubectl(kubeconfigPath, [
          "get",
          "events.events.k8s.io",
          "-n",
          ns,
          "-o",
          "jsonpath={.items[*].reason}",
        ]);
        reasons = events.stdout;
        return reasons.includes("DriftRepaired");
      },
      10_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; reasons: ${reasons}`);
    });
    expect(reasons).toContain("DriftRepaired");
  });

  it("a resync that meets 500s keeps Ready True, says why in Synced, and clears once Azure answers (ADR 0026)", async () => {
    await createBinding("orders", seedSpec());
    await waitFor("orders", ready, "Ready");
    // Every read fails, retries included (three tries each): each resync pass stops before it sees any drift.
    const fault = await emu.control.injectFault({
      match: { method: "GET" },
      action: { kind: "status", status: 500, message: "backend unavailable" },
    });
    const synced = (b: LogicAppIdentityBinding) => findCondition(b.status?.conditions, "Synced");
    const failing = await waitFor("orders", (b) => synced(b)?.status === "False", "Synced False");
    expect(findCondition(failing.status?.conditions, "Ready")).toMatchObject({
      status: "True",
      reason: "Ready",
    });
    expect(synced(failing)).toMatchObject({ reason: "AzureUnavailable" });
    expect(synced(failing)?.message).toContain("500");
    // Several more failed passes (resync 1 s, backoff from milliseconds): Ready never leaves True meanwhile.
    const failedBefore = (await emu.control.requestLog({})).filter((l) => l.status === 500).length;
    await waitUntil(
      "more failed passes",
      async () => {
        const b = await getBinding("orders");
        expect(findCondition(b.status?.conditions, "Ready")?.status).toBe("True");
        const failed = (await emu.control.requestLog({})).filter((l) => l.status === 500).length;
        return failed >= failedBefore + 6;
      },
      20_000,
    );
    const warnings = await kubectl(kubeconfigPath, [
      "get",
      "events.events.k8s.io",
      "-n",
      ns,
      "-o",
      "jsonpath={range .items[?(@.type=='Warning')]}{.note}{'\\n'}{end}",
    ]);
    expect(warnings.stdout).toContain("still Ready");

    await emu.control.removeFault(fault.id);
    const cleared = await waitFor("orders", (b) => synced(b)?.status === "True", "Synced True again");
    expect(findCondition(cleared.status?.conditions, "Ready")?.status).toBe("True");
    expect(findCondition(cleared.status?.conditions, "Reconciling")?.status).not.toBe("True");
  });

  it("waits for a fresh principal to replicate (Graph 404), then becomes Ready", async () => {
    await emu.control.setReplicationDelay(2500);
    await createBinding("orders", seedSpec());
    const seen = new Set<string>();
    await waitFor(
      "orders",
      (b) => {
        for (const c of b.status?.conditions ?? []) seen.add(`${c.type}=${c.reason}`);
        return ready(b);
      },
      "Ready after replication",
      40_000,
    );
    expect([...seen].join(" ")).toContain("AppRoleAssignmentsReady=WaitingForPrincipalReplication");
  });

  it("RBAC PrincipalNotFound right after the identity is created: waits with backoff, then grants", async () => {
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "principalNotFound" },
      count: 3,
    });
    await createBinding("orders", seedSpec());
    const seen = new Set<string>();
    const b = await waitFor(
      "orders",
      (x) => {
        for (const c of x.status?.conditions ?? []) seen.add(`${c.type}=${c.reason}`);
        return ready(x);
      },
      "Ready after PrincipalNotFound",
      40_000,
    );
    expect([...seen].join(" ")).toContain("RoleAssignmentsReady=WaitingForPrincipalReplication");
    expect(findCondition(b.status?.conditions, "Stalled")?.status).toBe("False");
    const creates = await emu.control.requestLog({ operation: "RoleAssignments_Create" });
    expect(creates.map((e) => e.status)).toEqual([400, 400, 400, 201]);
  });

  it("adopts an existing assignment (409 RoleAssignmentExists) and never revokes it", async () => {
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    const principal = (await principalOf(ids.logicAppId))!;
    const existing = await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: KV_SECRETS_USER,
      principalId: principal,
      principalType: "ServicePrincipal",
    });
    await createBinding("orders", seedSpec({ appRoleAssignments: [] }));
    const b = await waitFor("orders", ready, "Ready");
    expect(b.status?.roleAssignments?.[0]).toMatchObject({
      state: "Granted",
      ownership: "Adopted",
      id: existing.id,
    });
    expect(b.status?.identityEnabledByOperator).toBe(false);

    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "orders" });
    await gone("orders");
    expect((await emu.control.listRoleAssignments({ principalId: principal })).map((r) => r.id)).toEqual([
      existing.id,
    ]);
    expect(await principalOf(ids.logicAppId)).toBe(principal); // it was on before: stays on
  });

  it.each([
    [
      "an unknown role",
      { roleAssignments: [{ scope: "KV", role: "Key Vault Secrets Reader Writer" }] },
      "RoleNotFound",
      "Key Vault Secrets Reader Writer",
    ],
    [
      "an unknown app role",
      { appRoleAssignments: [{ api: "api://orders", appRole: "DeleteRole" }] },
      "AppRoleNotFound",
      "AddRole, ReadRole",
    ],
    [
      "a missing user-assigned identity",
      { identity: { type: "UserAssigned" as const, userAssignedIdentityId: "UAMI" } },
      "IdentityNotFound",
      "id-missing",
    ],
  ])("%s is Stalled with the name in the message", async (_n, over, reason, text) => {
    const spec = seedSpec(over as Partial<BindingSpec>);
    for (const ra of spec.roleAssignments ?? []) if (ra.scope === "KV") ra.scope = ids.keyVaultScope;
    if (spec.identity.userAssignedIdentityId === "UAMI") {
      spec.identity.userAssignedIdentityId = `${ids.resourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-missing`;
    }
    await createBinding("bad", spec);
    const b = await waitFor("bad", stalledWith(reason), `Stalled ${reason}`);
    expect(findCondition(b.status?.conditions, "Stalled")?.message).toContain(text);
    expect(findCondition(b.status?.conditions, "Ready")?.status).toBe("False");
  });

  it("deletion with Delete revokes its grants and turns off the identity it turned on; Orphan leaves Azure alone", async () => {
    await createBinding("orders", seedSpec());
    const b = await waitFor("orders", ready, "Ready");
    const principal = b.status!.principalId!;
    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "orders" });
    await gone("orders");
    expect(await emu.control.listRoleAssignments({ principalId: principal })).toEqual([]);
    expect(await emu.control.listAppRoleAssignments({ principalId: principal })).toEqual([]);
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity.type).toBe("None");

    await createBinding("kept", seedSpec({ deletionPolicy: "Orphan" }));
    const k = await waitFor("kept", ready, "Ready");
    const p2 = k.status!.principalId!;
    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "kept" });
    await gone("kept");
    expect(await emu.control.listRoleAssignments({ principalId: p2 })).toHaveLength(1);
    expect(await emu.control.listAppRoleAssignments({ principalId: p2 })).toHaveLength(1);
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity.type).toBe("SystemAssigned");
  });

  it("a deletion blocked by Azure keeps the finalizer, says so in a condition and an Event, and finishes once Azure recovers", async () => {
    await createBinding("orders", seedSpec());
    const b = await waitFor("orders", ready, "Ready");
    const fault = await emu.control.injectFault({
      match: { operation: "RoleAssignments_Delete" },
      action: { kind: "status", status: 403, code: "AuthorizationFailed", message: "no delete permission" },
    });
    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "orders" });
    const blocked = await waitFor(
      "orders",
      (x) => findCondition(x.status?.conditions, "Ready")?.reason === "DeletionBlocked",
      "DeletionBlocked",
    );
    expect(blocked.metadata.finalizers).toContain(FINALIZER);
    expect(findCondition(blocked.status?.conditions, "Ready")?.message).toContain("no delete permission");
    await waitUntil("DeletionBlocked event", async () => {
      const r = await kubectl(kubeconfigPath, [
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].reason}",
      ]);
      return r.stdout.includes("DeletionBlocked");
    });
    expect(await emu.control.listRoleAssignments({ principalId: b.status!.principalId! })).toHaveLength(1);

    await emu.control.removeFault(fault.id);
    // Access denied is re-checked slowly (5 min by default); a touch of the object wakes it now.
    await client.patch(
      BINDING_RESOURCE,
      { namespace: ns, name: "orders" },
      { metadata: { annotations: { retry: "now" } } },
    );
    await gone("orders");
    expect(await emu.control.listRoleAssignments({ principalId: b.status!.principalId! })).toEqual([]);
  });

  it("deleting a binding whose Logic App was deleted is not an error", async () => {
    await createBinding("orders", seedSpec());
    const b = await waitFor("orders", ready, "Ready");
    await emu.control.deleteLogicApp(ids.logicAppId);
    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "orders" });
    await gone("orders");
    // Its grants were revoked even though the principal is gone (no "Identity not found" left behind).
    expect(await emu.control.listRoleAssignments({ principalId: b.status!.principalId! })).toEqual([]);
  });
});
