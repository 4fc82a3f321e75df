import { describe, expect, it } from "vitest";
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import { FINALIZER, type BindingStatus, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import { ownershipMarker, roleAssignmentName } from "../../azure/naming.ts";
import type { RoleAssignment, RoleDefinition, ServicePrincipal } from "../../azure/ports.ts";
import type { CacheReader } from "../../runtime/reconciler.ts";
import { ROLE } from "../tenancy/builtins.ts";
import { TenancyFence } from "../tenancy/fence.ts";
import { recheckAfterMs } from "../shared/rounds.ts";
import { decide } from "./decide.ts";
import type { BindingAction, BindingObservation } from "./model.ts";

const SUB = "00000000-0000-0000-0000-0000000000a1";
const RG = `/subscriptions/${SUB}/resourceGroups/rg-a`;
const LA = `${RG}/providers/Microsoft.Logic/workflows/orders`;
const KV = `${RG}/providers/Microsoft.KeyVault/vaults/kv`;
const defId = (guid: string) =>
  `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
const P1 = "11111111-1111-1111-1111-111111111111";
const ORDERS_SP = "33333333-3333-3333-3333-333333333333";
const ADD_ROLE = "44444444-4444-4444-4444-444444444444";
const naming = { roleAssignmentName, ownershipMarker };
const NOW = "2026-12-04T10:00:00Z";

const def = (guid: string, roleName: string, actions: string[] = []): RoleDefinition => ({
  id: defId(guid),
  name: guid,
  roleName,
  permissions: [{ actions, notActions: [], dataActions: [], notDataActions: [] }],
});
const KV_USER = def(ROLE.keyVaultSecretsUser, "Key Vault Secrets User");
const OWNER = def(ROLE.owner, "Owner", ["*"]);
const ordersSp: ServicePrincipal = {
  id: ORDERS_SP,
  appId: "55555555-5555-5555-5555-555555555555",
  displayName: "orders",
  servicePrincipalNames: ["api://orders"],
  appRoles: [{ id: ADD_ROLE, value: "AddRole", isEnabled: true, allowedMemberTypes: ["Application"] }],
  appOwnerOrganizationId: "00000000-0000-0000-0000-00000000aaaa",
};

function policy(roles: string[]): AzureAccessPolicy {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "AzureAccessPolicy",
    metadata: { name: "team" },
    spec: {
      namespaces: { names: ["team"] },
      logicApps: [RG],
      scopes: [RG],
      roles,
      apis: [{ api: "api://orders", appRoles: ["*"] }],
    },
  };
}

function cache<T extends KubeObject>(items: T[]): CacheReader<T> {
  return {
    get: (key) => items.find((i) => i.metadata.name === (typeof key === "string" ? key : key.name)),
    list: () => items,
    hasSynced: () => true,
  };
}

function fence(policies: AzureAccessPolicy[], mode: "enforce" | "permissive" = "enforce"): TenancyFence {
  return new TenancyFence({ mode, policies: cache(policies), namespaces: cache([]) });
}

function binding(roles: { scope: string; role: string }[], status?: BindingStatus): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: "team", uid: "uid-1", generation: 1, finalizers: [FINALIZER] },
    spec: {
      logicAppId: LA,
      identity: { type: "SystemAssigned" },
      roleAssignments: roles,
      appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
    },
    ...(status ? { status } : {}),
  };
}

function observed(
  b: LogicAppIdentityBinding,
  f: TenancyFence,
  principal: string | undefined,
  defs: RoleDefinition[],
  roleAssignments: RoleAssignment[] = [],
): BindingObservation {
  const roles = (b.spec.roleAssignments ?? []).map((r, i) => ({ ...r, definition: defs[i] }));
  const apis = [{ api: "api://orders", servicePrincipal: ordersSp }];
  const o: BindingObservation = {
    logicApp: {
      exists: true,
      kind: "Consumption",
      identity: principal
        ? { type: "SystemAssigned", principalId: principal, userAssigned: [] }
        : { type: "None", userAssigned: [] },
      version: "v1",
    },
    roles,
    roleAssignments,
    apis,
    appRoleAssignments: { [ORDERS_SP.toLowerCase()]: [] },
    applyFailures: {},
    createdAppRoleAssignmentIds: [],
  };
  return { ...o, tenancy: f.bindingVerdicts(b, o) };
}

const types = (actions: readonly BindingAction[]) => actions.map((a) => a.type);
const stalled = (d: ReturnType<typeof decide>) => d.conditions.find((c) => c.type === "Stalled");

describe("decide with tenancy verdicts", () => {
  it("a refused role is not granted, reported Failed and Stalled; the allowed grants still go ahead", () => {
    const f = fence([policy(["Key Vault Secrets User"])]);
    const b = binding([
      { scope: KV, role: "Key Vault Secrets User" },
      { scope: RG, role: "Owner" },
    ]);
    const d = decide(b, observed(b, f, P1, [KV_USER, OWNER]), { now: NOW, naming });
    expect(types(d.actions).sort()).toEqual(["createAppRoleAssignment", "createRoleAssignment"]);
    const create = d.actions.find((a) => a.type === "createRoleAssignment");
    expect(create?.type === "createRoleAssignment" && create.roleDefinitionId).toBe(KV_USER.id);
    expect(d.status.roleAssignments?.find((e) => e.role === "Owner")).toMatchObject({ state: "Failed" });
    expect(stalled(d)).toMatchObject({ status: "True", reason: "PrivilegedRole" });
    expect(d.stalled).toBe(true);
    expect(d.status.grants).toBe("0/3");
  });

  it("a role the policy no longer allows: our grant is revoked (with an AccessRevoked event), a foreign one stays", () => {
    const f = fence([policy([])]);
    const name = roleAssignmentName(KV, KV_USER.id, P1);
    const ours: RoleAssignment = {
      id: `${KV}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      scope: KV,
      roleDefinitionId: KV_USER.id,
      principalId: P1,
      description: ownershipMarker("team", "orders", "uid-1"),
    };
    const foreign: RoleAssignment = { ...ours, id: `${KV}/x/aaaa`, name: "aaaa", description: "by hand" };
    const b = binding([{ scope: KV, role: "Key Vault Secrets User" }], {
      principalId: P1,
      roleAssignments: [
        {
          scope: KV,
          role: "Key Vault Secrets User",
          roleDefinitionId: KV_USER.id,
          id: ours.id,
          principalId: P1,
          state: "Granted",
          ownership: "Created",
        },
      ],
    });
    const d = decide(b, observed(b, f, P1, [KV_USER], [ours, foreign]), { now: NOW, naming });
    const deletes = d.actions.filter((a) => a.type === "deleteRoleAssignment");
    expect(deletes.map((a) => a.type === "deleteRoleAssignment" && a.id)).toEqual([ours.id]);
    expect(stalled(d)).toMatchObject({ status: "True", reason: "NotAllowed" });
    const note = d.findings.find((r) => r.event?.reason === "AccessRevoked")?.event?.note ?? "";
    expect(note).toContain(ours.id);
    expect(note).toContain("spec.roles");
  });

  it("a namespace no policy selects: no identity write and no grant at all (fail closed)", () => {
    const f = fence([]);
    const b = binding([{ scope: KV, role: "Key Vault Secrets User" }]);
    const d = decide(b, observed(b, f, undefined, [KV_USER]), { now: NOW, naming });
    expect(d.actions).toEqual([]);
    expect(stalled(d)).toMatchObject({ status: "True", reason: "NoAccessPolicy" });
    expect(d.conditions.find((c) => c.type === "IdentityReady")?.reason).toBe("NoAccessPolicy");
    expect(d.status.roleAssignments?.every((e) => e.state === "Failed")).toBe(true);
  });

  it("stalled only by the policy: not re-checked on a timer (the policy and namespace watches wake it)", () => {
    const b = binding([{ scope: KV, role: "Key Vault Secrets User" }]);
    const refused = decide(b, observed(b, fence([]), undefined, [KV_USER]), { now: NOW, naming });
    expect(refused.stalledOnPolicy).toBe(true);
    expect(recheckAfterMs(refused)).toBeUndefined();
    // Allowed, but the Logic App is gone: Azure-side, so the 5-minute re-check stays.
    const allowed = observed(b, fence([policy([ROLE.keyVaultSecretsUser])]), P1, [KV_USER]);
    const gone = decide(
      b,
      { ...allowed, logicApp: { ...allowed.logicApp, exists: false } },
      { now: NOW, naming },
    );
    expect(stalled(gone)?.reason).toBe("LogicAppNotFound");
    expect(gone.stalledOnPolicy).toBeUndefined();
    expect(recheckAfterMs(gone)).toBe(300_000);
  });

  it("permissive mode refuses nothing", () => {
    const f = fence([], "permissive");
    const b = binding([{ scope: RG, role: "Owner" }]);
    const d = decide(b, observed(b, f, P1, [OWNER]), { now: NOW, naming });
    expect(types(d.actions).sort()).toEqual(["createAppRoleAssignment", "createRoleAssignment"]);
    expect(stalled(d)?.status).toBe("False");
  });
});

describe("the authorize guard (second fence)", () => {
  const create = (guid: string): BindingAction => ({
    type: "createRoleAssignment",
    key: "k",
    scope: RG,
    name: "n",
    roleDefinitionId: defId(guid),
    principalId: P1,
    description: "d",
    driftRepair: false,
  });
  const del: BindingAction = {
    type: "deleteRoleAssignment",
    key: "k",
    id: "x",
    principalId: P1,
    why: "removedFromSpec",
  };

  it("re-checks creates against the policies now; deletes of our grants always pass", () => {
    const policies: AzureAccessPolicy[] = [policy(["Key Vault Secrets User"])];
    const f = new TenancyFence({ mode: "enforce", policies: cache(policies), namespaces: cache([]) });
    const b = binding([{ scope: RG, role: "Key Vault Secrets User" }]);
    f.bindingVerdicts(b, observed(b, f, P1, [KV_USER]));
    expect(f.bindingGuard(b, [create(ROLE.keyVaultSecretsUser), del]).denied).toEqual([]);
    // The policy loses the role between decide and apply: the create is stopped, the delete goes.
    policies[0] = policy([]);
    const r = f.bindingGuard(b, [create(ROLE.keyVaultSecretsUser), del]);
    expect(r.allowed).toEqual([del]);
    expect(r.denied.map((d) => d.reason)).toEqual(["NotAllowed"]);
  });

  it("a policy naming a custom role by name allows the role the pass resolved under that name, and only it", () => {
    const CUSTOM = "77777777-7777-7777-7777-777777777777";
    const f = fence([policy(["Orders Reader"])]);
    const b = binding([{ scope: RG, role: "Orders Reader" }]);
    const o = observed(b, f, P1, [def(CUSTOM, "Orders Reader", ["Microsoft.Web/sites/read"])]);
    expect(o.tenancy?.roles).toEqual({});
    expect(f.bindingGuard(b, [create(CUSTOM)]).denied).toEqual([]);
    expect(f.bindingGuard(b, [create(ROLE.reader)]).denied[0]?.reason).toBe("NotAllowed");
  });

  it("refuses a custom role whose permissions were never resolved, and identity writes of a refused Logic App", () => {
    const f = fence([policy(["99999999-9999-9999-9999-999999999999"])]);
    const b = binding([]);
    expect(f.bindingGuard(b, [create("99999999-9999-9999-9999-999999999999")]).denied[0]?.reason).toBe(
      "RoleNotResolved",
    );
    const elsewhere = { ...b, spec: { ...b.spec, logicAppId: LA.replace("rg-a", "rg-b") } };
    const enable: BindingAction = {
      type: "setIdentity",
      desired: { type: "SystemAssigned", userAssignedIdentityIds: [] },
      why: "enable",
    };
    expect(f.bindingGuard(elsewhere, [enable]).denied[0]?.reason).toBe("NotAllowed");
    const deleting = { ...elsewhere, metadata: { ...elsewhere.metadata, deletionTimestamp: NOW } };
    expect(f.bindingGuard(deleting, [enable]).denied).toEqual([]);
  });
});
