/**
 * Binding passes through the engine's rounds (shared/rounds.ts) against the in-process emulator, without Kubernetes:
 * the real adapters, the real decide, the real apply. Each case asserts what Azure (the emulator) holds afterwards
 * and what the status would record; the cluster suite keeps only what needs a real API server.
 */
import { describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import {
  FINALIZER,
  findCondition,
  type BindingSpec,
  type BindingStatus,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { isAzureError } from "../../src/azure/errors.ts";
import { roleAssignmentName } from "../../src/azure/naming.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { converge } from "../../src/controllers/binding/kind.ts";
import { describeFailure } from "../../src/controllers/shared/pass-failure.ts";
import { withDenials } from "../../src/controllers/shared/pass.ts";
import type { Guard } from "../../src/controllers/shared/rounds.ts";

const NOW = "2026-12-01T10:00:00Z";

let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;

useEmulator({ config: { replicationDelayMs: 0 } }, (env) => ({ emu, ids, ports } = env));

function binding(status?: BindingStatus, over: Partial<BindingSpec> = {}): LogicAppIdentityBinding {
  return {
    apiVersion: "laio.example.com/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: "team-a", uid: "uid-1", generation: 1, finalizers: [FINALIZER] },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
      ...over,
    },
    ...(status ? { status } : {}),
  };
}

/** One pass as the reconciler runs it, status carried to the next pass as it would be read back. */
async function pass(b: LogicAppIdentityBinding, options: Partial<Parameters<typeof converge>[2]> = {}) {
  const r = await converge(b, ports, { now: () => NOW, replicationPollMs: 1_000, ...options });
  return { ...r, next: r.status ? binding(r.status, b.spec) : b };
}

const reasons = (r: { reports: { event?: { reason: string } }[] }) =>
  r.reports.flatMap((x) => (x.event ? [x.event.reason] : []));

async function azureGrants(principalId: string) {
  return {
    rbac: await emu.control.listRoleAssignments({ scope: ids.keyVaultScope, principalId }),
    graph: await emu.control.listAppRoleAssignments({
      resourceId: ids.ordersApi.servicePrincipalId,
      principalId,
    }),
  };
}

describe("converge against the emulator", () => {
  it("first pass: turns the identity on and grants both, ending observed (Ready)", async () => {
    const r = await pass(binding());
    expect(r.stoppedBy).toBeUndefined();
    const principal = r.status?.principalId;
    expect(principal).toBeDefined();
    const azure = await azureGrants(principal!);
    expect(azure.rbac.map((a) => a.name)).toEqual([
      roleAssignmentName(ids.keyVaultScope, azure.rbac[0]!.properties.roleDefinitionId, principal!),
    ]);
    expect(azure.graph.map((a) => a.appRoleId)).toEqual([ids.ordersApi.appRoles.AddRole]);
    expect(findCondition(r.status?.conditions, "Ready")).toMatchObject({ status: "True", reason: "Ready" });
    expect(r.status?.grants).toBe("2/2");
    expect(reasons(r)).toEqual(expect.arrayContaining(["IdentityEnabled", "Granted"]));
  });

  it("heal: a recreated identity gets every grant, then the old principal's are swept", async () => {
    const first = await pass(binding());
    const old = first.status!.principalId!;
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "None" });
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });

    const r = await pass(first.next);
    const fresh = r.status!.principalId!;
    expect(fresh).not.toBe(old);
    expect(await azureGrants(old)).toEqual({ rbac: [], graph: [] });
    const now = await azureGrants(fresh);
    expect(now.rbac).toHaveLength(1);
    expect(now.graph).toHaveLength(1);
    expect(r.status?.lastHeal).toMatchObject({ previousPrincipalId: old, principalId: fresh, swept: 2 });
    expect(reasons(r)).toEqual(expect.arrayContaining(["IdentityRecreated", "Healed", "OrphanSwept"]));
    // Graph drops a deleted principal's app-role assignments with it; RBAC keeps them (shown as "Unknown"), so
    // only the RBAC orphan is the operator's to sweep.
    expect(r.reports.filter((x) => x.metric?.name === "healed").map((x) => x.metric?.facet)).toEqual([
      "identity",
      "rbac",
    ]);
  });

  it("replication wait: a principal Azure does not know yet is polled, not failed, and nothing is written", async () => {
    const first = await pass(binding(), { maxRounds: 1 });
    // Round 1 only observes: nothing written yet; the identity is what the next pass turns on.
    expect(first.succeeded).toEqual([]);
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "principalNotFound" },
    });
    const r = await pass(first.next);
    expect(r.stoppedBy).toBeUndefined();
    const principal = r.status!.principalId!;
    expect((await azureGrants(principal)).rbac).toEqual([]);
    expect(findCondition(r.status?.conditions, "RoleAssignmentsReady")).toMatchObject({
      status: "False",
      reason: "WaitingForPrincipalReplication",
    });
    expect(findCondition(r.status?.conditions, "Stalled")?.status).toBe("False");
    expect(r.decision?.requeueAfterMs).toBeGreaterThanOrEqual(1_000);

    await emu.control.clearFaults();
    const after = await pass(r.next);
    expect((await azureGrants(principal)).rbac).toHaveLength(1);
    expect(findCondition(after.status?.conditions, "Ready")?.status).toBe("True");
  });

  it("adoption: an equal grant someone else made is used, recorded as Adopted, and not duplicated", async () => {
    const first = await pass(binding());
    const principal = first.status!.principalId!;
    const ours = (await azureGrants(principal)).rbac[0]!;
    await emu.control.deleteRoleAssignment(ours.name);
    const theirs = await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: ours.properties.roleDefinitionId,
      principalId: principal,
    });

    const r = await pass(first.next);
    expect((await azureGrants(principal)).rbac.map((a) => a.name)).toEqual([theirs.name]);
    expect(r.status?.roleAssignments).toEqual([
      expect.objectContaining({ state: "Granted", ownership: "Adopted", id: theirs.id }),
    ]);
    expect(r.succeeded.filter((a) => a.type === "createRoleAssignment")).toEqual([]);
  });

  it("throttling: a 429 stops the pass with Azure's delay and no write; the next pass grants", async () => {
    const first = await pass(binding(), { maxRounds: 1 });
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "status", status: 429, retryAfterSeconds: 7 },
      count: 1,
    });
    const r = await pass(first.next);
    expect(isAzureError(r.stoppedBy, "Throttled")).toBe(true);
    expect(describeFailure(r.stoppedBy!, false)).toMatchObject({
      reason: "Throttled",
      retryAfterMs: 7_000,
      needsPerson: false,
    });
    const principal = (await emu.control.getLogicApp(ids.logicAppId)).identity.principalId;
    expect(principal).toBeDefined();
    expect((await azureGrants(principal!)).rbac).toEqual([]);

    const after = await pass(r.next);
    expect(after.stoppedBy).toBeUndefined();
    expect((await azureGrants(principal!)).rbac).toHaveLength(1);
  });

  it("guard: a denied write never reaches Azure and the object is Stalled naming it", async () => {
    const noGraph: Guard<LogicAppIdentityBinding> = (_obj, actions) => ({
      allowed: actions.filter((a) => a.type !== "createAppRoleAssignment"),
      denied: actions
        .filter((a) => a.type === "createAppRoleAssignment")
        .map((action) => ({
          action,
          reason: "NotAllowed",
          message: "Graph grants are not allowed in team-a",
        })),
    });
    const r = await pass(binding(), { guard: noGraph });
    const principal = r.status!.principalId!;
    const azure = await azureGrants(principal);
    expect(azure.graph).toEqual([]);
    expect(azure.rbac).toHaveLength(1);
    expect(r.denied.map((d) => d.action.type)).toEqual(["createAppRoleAssignment"]);

    const final = withDenials(r.decision!, r.denied, 1);
    expect(final.stalled).toBe(true);
    expect(final.conditions.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "NotAllowed",
      message: expect.stringContaining("createAppRoleAssignment: Graph grants are not allowed in team-a"),
    });
    expect(final.conditions.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "NotAllowed",
    });
    expect(final.actions).toEqual([]);
  });

  it("write-ahead: a failed intent write (status, ownership records) stops the round before any Azure write", async () => {
    const intents: string[][] = [];
    const r = await pass(binding(), {
      beforeWrites: async (_decision, writes) => {
        intents.push(writes.map((w) => w.type));
        throw new Error("records store unavailable");
      },
    });
    expect(intents).toEqual([["setIdentity"]]);
    expect(r.stoppedBy?.message).toBe("records store unavailable");
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity.type).toBe("None");
  });

  it("cancellation: the abort signal reaches the port call in flight", async () => {
    const first = await pass(binding(), { maxRounds: 1 });
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "latency", ms: 10_000 },
    });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    const r = await pass(first.next, { signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.stoppedBy).toBeDefined();
    expect(r.succeeded.some((a) => a.type === "createRoleAssignment")).toBe(false);
  });
});
