import { describe, expect, it } from "vitest";
import { FINALIZER, type BindingStatus, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { ownershipMarker, roleAssignmentName } from "../../azure/naming.ts";
import type {
  AppRoleAssignment,
  LogicAppObservation,
  RoleAssignment,
  ServicePrincipal,
} from "../../azure/ports.ts";
import type { BindingRecord } from "../shared/ownership.ts";
import { statusOf } from "../shared/rounds.ts";
import { decide as decidePure, type DecideOptions } from "./decide.ts";
import { lostGraphKey, lostRbacKey, type BindingObservation } from "./model.ts";

/** decide as the engine records it: conditions stamped onto the status the binding held, findings as events. */
function decide(b: LogicAppIdentityBinding, o: BindingObservation, options: Omit<DecideOptions, "naming">) {
  const d = decidePure(b, o, { ...options, naming: { roleAssignmentName, ownershipMarker } });
  return {
    ...d,
    status: statusOf(b.status?.conditions, d, options.now),
    events: d.findings.flatMap((f) => (f.event ? [f.event] : [])),
  };
}

const SUB = "00000000-0000-0000-0000-0000000000a1";
const LA = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders`;
const SITE = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/orders-std`;
const KV = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv`;
const UAMI = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-orders`;
const OTHER_UAMI = UAMI.replace("id-orders", "id-other");
const KV_USER = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`;
const P1 = "11111111-1111-1111-1111-111111111111";
const P2 = "22222222-2222-2222-2222-222222222222";
const FOREIGN = "99999999-9999-9999-9999-999999999999";
const TENANT = "00000000-0000-0000-0000-0000000000f1";
const ORDERS_SP = "33333333-3333-3333-3333-333333333333";
const ADD_ROLE = "44444444-4444-4444-4444-444444444444";
const NOW = "2026-11-28T10:00:00Z";
const UID = "uid-1";
const MARKER = ownershipMarker("team", "orders", UID);

const ordersSp: ServicePrincipal = {
  id: ORDERS_SP,
  appId: "55555555-5555-5555-5555-555555555555",
  displayName: "orders-api",
  servicePrincipalNames: ["api://orders", "55555555-5555-5555-5555-555555555555"],
  appRoles: [
    { id: ADD_ROLE, value: "AddRole", isEnabled: true, allowedMemberTypes: ["Application"] },
    {
      id: "66666666-6666-6666-6666-666666666666",
      value: "ReadRole",
      isEnabled: true,
      allowedMemberTypes: ["Application"],
    },
  ],
};

function binding(
  over: Partial<LogicAppIdentityBinding["spec"]> = {},
  status?: BindingStatus,
  meta: Partial<LogicAppIdentityBinding["metadata"]> = {},
): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: {
      name: "orders",
      namespace: "team",
      uid: UID,
      generation: 1,
      finalizers: [FINALIZER],
      ...meta,
    },
    spec: {
      logicAppId: LA,
      identity: { type: "SystemAssigned" },
      roleAssignments: [{ scope: KV, role: "Key Vault Secrets User" }],
      appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
      ...over,
    },
    ...(status ? { status } : {}),
  };
}

function logicApp(
  principal: string | undefined,
  over: Partial<LogicAppObservation> = {},
): LogicAppObservation {
  return {
    exists: true,
    kind: "Consumption",
    identity: principal
      ? { type: "SystemAssigned", principalId: principal, tenantId: TENANT, userAssigned: [] }
      : { type: "None", userAssigned: [] },
    version: "2026-11-28T09:00:00Z",
    ...over,
  };
}

const ourRa = (principal: string, scope = KV): RoleAssignment => {
  const name = roleAssignmentName(scope, KV_USER, principal);
  return {
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    name,
    scope,
    roleDefinitionId: KV_USER,
    principalId: principal,
    description: MARKER,
  };
};
const foreignRa = (principal: string): RoleAssignment => ({
  id: `${KV}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-0000-0000-000000000000`,
  name: "aaaaaaaa-0000-0000-0000-000000000000",
  scope: KV,
  roleDefinitionId: KV_USER,
  principalId: principal,
});
const appRa = (principal: string, id = `ara-${principal.slice(0, 4)}`): AppRoleAssignment => ({
  id,
  principalId: principal,
  resourceId: ORDERS_SP,
  appRoleId: ADD_ROLE,
});

function observed(over: Partial<BindingObservation> = {}): BindingObservation {
  return {
    logicApp: logicApp(P1),
    roles: [
      {
        scope: KV,
        role: "Key Vault Secrets User",
        definition: { id: KV_USER, name: KV_USER.split("/").pop()!, roleName: "Key Vault Secrets User" },
      },
    ],
    roleAssignments: [],
    apis: [{ api: "api://orders", servicePrincipal: ordersSp }],
    appRoleAssignments: { [ORDERS_SP]: [] },
    applyFailures: {},
    createdAppRoleAssignmentIds: [],
    ...over,
  };
}

/** Status of a binding that is fully granted to `principal`. */
function grantedStatus(principal: string, extra: Partial<BindingStatus> = {}): BindingStatus {
  const ra = ourRa(principal);
  return {
    observedGeneration: 1,
    principalId: principal,
    tenantId: TENANT,
    identityType: "SystemAssigned",
    identityEnabledByOperator: true,
    grants: "2/2",
    roleAssignments: [
      {
        scope: KV,
        role: "Key Vault Secrets User",
        roleDefinitionId: KV_USER,
        id: ra.id,
        principalId: principal,
        state: "Granted",
        ownership: "Created",
      },
    ],
    appRoleAssignments: [
      {
        api: "api://orders",
        appRole: "AddRole",
        resourceId: ORDERS_SP,
        appRoleId: ADD_ROLE,
        id: appRa(principal).id,
        principalId: principal,
        state: "Granted",
        ownership: "Created",
      },
    ],
    conditions: [],
    ...extra,
  };
}

/**
 * The ownership record of a binding that turned the identity on for `principal` (when `enabled`) and created the
 * Graph assignments listed (ADR 0015: the only proof for Graph, and for turning the identity off).
 */
function recordOf(
  principal: string,
  o: { enabled?: boolean; graph?: AppRoleAssignment[]; intents?: AppRoleAssignment[] } = {},
): BindingRecord {
  const triple = (a: AppRoleAssignment) => ({
    resourceId: a.resourceId,
    principalId: a.principalId,
    appRoleId: a.appRoleId,
  });
  return {
    uid: UID,
    logicAppId: LA.toLowerCase(),
    identity: {
      enabledByOperator: o.enabled ?? true,
      systemPrincipalIds: o.enabled === false ? [] : [principal.toLowerCase()],
      attachedUserAssignedIds: [],
    },
    graph: [
      ...(o.graph ?? [appRa(principal)]).map((a) => ({
        ...triple(a),
        assignmentId: a.id,
        state: "created" as const,
      })),
      ...(o.intents ?? []).map((a) => ({ ...triple(a), state: "intent" as const })),
    ],
    rbac: [],
  };
}

const cond = (s: BindingStatus, type: string) => s.conditions?.find((c) => c.type === type);

describe("decide: identity", () => {
  const cases: Array<{
    name: string;
    b: LogicAppIdentityBinding;
    o: BindingObservation;
    expectAction?: unknown;
    reason: string;
    stalled: boolean;
  }> = [
    {
      name: "Consumption without identity: turn on the system-assigned one",
      b: binding(),
      o: observed({ logicApp: logicApp(undefined) }),
      expectAction: {
        type: "setIdentity",
        desired: { type: "SystemAssigned", userAssignedIdentityIds: [] },
        why: "enable",
      },
      reason: "EnablingIdentity",
      stalled: false,
    },
    {
      name: "Consumption with a user-assigned identity but spec wants system: conflict, no write",
      b: binding(),
      o: observed({
        logicApp: logicApp(undefined, {
          identity: { type: "UserAssigned", userAssigned: [{ id: OTHER_UAMI, principalId: P2 }] },
        }),
      }),
      reason: "IdentityConflict",
      stalled: true,
    },
    {
      name: "Consumption with a system identity but spec wants user-assigned: conflict, no write",
      b: binding({ identity: { type: "UserAssigned", userAssignedIdentityId: UAMI } }),
      o: observed({
        userAssignedIdentity: { exists: true, principalId: P2, clientId: "c", tenantId: TENANT },
      }),
      reason: "IdentityConflict",
      stalled: true,
    },
    {
      name: "user-assigned identity that does not exist: Stalled naming it",
      b: binding({ identity: { type: "UserAssigned", userAssignedIdentityId: UAMI } }),
      o: observed({ logicApp: logicApp(undefined), userAssignedIdentity: { exists: false } }),
      reason: "IdentityNotFound",
      stalled: true,
    },
    {
      name: "Consumption switched to another user-assigned identity behind our back: set it back",
      b: binding({ identity: { type: "UserAssigned", userAssignedIdentityId: UAMI } }, { principalId: P1 }),
      o: observed({
        logicApp: logicApp(undefined, {
          identity: { type: "UserAssigned", userAssigned: [{ id: OTHER_UAMI, principalId: P2 }] },
        }),
        userAssignedIdentity: { exists: true, principalId: P1, clientId: "c", tenantId: TENANT },
      }),
      expectAction: {
        type: "setIdentity",
        desired: { type: "UserAssigned", userAssignedIdentityIds: [UAMI] },
        why: "driftRepair",
      },
      reason: "AttachingIdentity",
      stalled: false,
    },
    {
      name: "Standard with only a user-assigned identity: add the system one, keep the user one",
      b: binding({ logicAppId: SITE }),
      o: observed({
        logicApp: logicApp(undefined, {
          kind: "Standard",
          identity: { type: "UserAssigned", userAssigned: [{ id: OTHER_UAMI, principalId: P2 }] },
        }),
      }),
      expectAction: {
        type: "setIdentity",
        desired: { type: "SystemAssigned, UserAssigned", userAssignedIdentityIds: [OTHER_UAMI] },
        why: "enable",
      },
      reason: "EnablingIdentity",
      stalled: false,
    },
    {
      name: "Standard with a system identity: attach the user-assigned one alongside",
      b: binding({ logicAppId: SITE, identity: { type: "UserAssigned", userAssignedIdentityId: UAMI } }),
      o: observed({
        logicApp: logicApp(P2, { kind: "Standard" }),
        userAssignedIdentity: { exists: true, principalId: P1, clientId: "c", tenantId: TENANT },
      }),
      expectAction: {
        type: "setIdentity",
        desired: { type: "SystemAssigned, UserAssigned", userAssignedIdentityIds: [UAMI] },
        why: "attach",
      },
      reason: "AttachingIdentity",
      stalled: false,
    },
    {
      name: "Logic App missing: Stalled",
      b: binding(),
      o: observed({
        logicApp: { exists: false, kind: "Consumption", identity: { type: "None", userAssigned: [] } },
      }),
      reason: "LogicAppNotFound",
      stalled: true,
    },
  ];
  it.each(cases)("$name", ({ b, o, expectAction, reason, stalled }) => {
    const d = decide(b, o, { now: NOW });
    const identityActions = d.actions.filter((a) => a.type === "setIdentity");
    if (expectAction) expect(identityActions).toEqual([expect.objectContaining(expectAction as object)]);
    else expect(identityActions).toEqual([]);
    expect(cond(d.status, "IdentityReady")).toMatchObject({ status: "False", reason });
    expect(cond(d.status, "Ready")?.status).toBe("False");
    expect(cond(d.status, "Stalled")?.status).toBe(stalled ? "True" : "False");
    expect(d.stalled).toBe(stalled);
    // No grant can be made without a principal.
    expect(
      d.actions.filter((a) => a.type === "createRoleAssignment" || a.type === "createAppRoleAssignment"),
    ).toEqual([]);
  });

  it("switching the spec to user-assigned replaces a system identity this binding turned on, and no other", () => {
    const spec = { identity: { type: "UserAssigned" as const, userAssignedIdentityId: UAMI } };
    const uami = { exists: true, principalId: P2, clientId: "c", tenantId: TENANT };
    const ours = decide(
      binding(spec, grantedStatus(P1)),
      observed({ userAssignedIdentity: uami, record: recordOf(P1) }),
      { now: NOW },
    );
    expect(ours.actions).toEqual([
      expect.objectContaining({
        type: "setIdentity",
        desired: { type: "UserAssigned", userAssignedIdentityIds: [UAMI] },
      }),
    ]);
    expect(ours.status.identityEnabledByOperator).toBe(false);
    // Status claiming otherwise (forged or stale) changes nothing: only the record says whose the identity is.
    const theirs = decide(
      binding(spec, grantedStatus(P1, { identityEnabledByOperator: true })),
      observed({ userAssignedIdentity: uami, record: recordOf(P1, { enabled: false }) }),
      { now: NOW },
    );
    expect(theirs.actions.filter((a) => a.type === "setIdentity")).toEqual([]);
    expect(theirs.status.conditions?.find((c) => c.type === "IdentityReady")?.reason).toBe(
      "IdentityConflict",
    );
  });

  it("switching the spec to system-assigned detaches the user-assigned identity this binding used, and no other", () => {
    const withUa = logicApp(undefined, {
      identity: { type: "UserAssigned", userAssigned: [{ id: UAMI, principalId: P2 }] },
    });
    const ours = decide(
      binding({}, grantedStatus(P2, { identityType: "UserAssigned", identityEnabledByOperator: false })),
      observed({ logicApp: withUa }),
      { now: NOW },
    );
    expect(ours.actions).toEqual([
      expect.objectContaining({
        type: "setIdentity",
        desired: { type: "SystemAssigned", userAssignedIdentityIds: [] },
      }),
    ]);
    const theirs = decide(binding({}, grantedStatus(P1)), observed({ logicApp: withUa }), { now: NOW });
    expect(theirs.actions.filter((a) => a.type === "setIdentity")).toEqual([]);
  });

  it("names the missing user-assigned identity in the message", () => {
    const d = decide(
      binding({ identity: { type: "UserAssigned", userAssignedIdentityId: UAMI } }),
      observed({ userAssignedIdentity: { exists: false } }),
      { now: NOW },
    );
    expect(cond(d.status, "Stalled")?.message).toContain(UAMI);
  });

  it("records that the operator turned the identity on, and keeps it recorded once the principal exists", () => {
    const first = decide(binding(), observed({ logicApp: logicApp(undefined) }), { now: NOW });
    expect(first.status.identityEnabledByOperator).toBe(true);
    // The write-ahead put it in the record, with the principal apply saw: status reports the record.
    const second = decide(binding({}, first.status), observed({ record: recordOf(P1, { graph: [] }) }), {
      now: NOW,
    });
    expect(second.status.identityEnabledByOperator).toBe(true);
    expect(second.status.principalId).toBe(P1);
  });

  it("an identity that was already on is not recorded as enabled by the operator", () => {
    const d = decide(binding(), observed(), { now: NOW });
    expect(d.status.identityEnabledByOperator).toBe(false);
  });

  it("an identity turned off behind our back is turned on again as a drift repair", () => {
    const d = decide(
      binding({}, grantedStatus(P1, { identityEnabledByOperator: false })),
      observed({ logicApp: logicApp(undefined) }),
      { now: NOW },
    );
    expect(d.actions).toEqual([expect.objectContaining({ type: "setIdentity", why: "driftRepair" })]);
    expect(d.status.identityEnabledByOperator).toBe(false);
  });
});

describe("decide: grants", () => {
  it("creates missing grants with the deterministic name and the ownership marker", () => {
    const d = decide(binding(), observed(), { now: NOW });
    expect(d.actions).toEqual([
      {
        type: "createRoleAssignment",
        key: expect.any(String),
        scope: KV,
        name: roleAssignmentName(KV, KV_USER, P1),
        roleDefinitionId: KV_USER,
        principalId: P1,
        description: MARKER,
        driftRepair: false,
      },
      {
        type: "createAppRoleAssignment",
        key: expect.any(String),
        resourceId: ORDERS_SP,
        principalId: P1,
        appRoleId: ADD_ROLE,
        driftRepair: false,
      },
    ]);
    expect(d.status.grants).toBe("0/2");
    expect(cond(d.status, "Reconciling")?.status).toBe("True");
  });

  it("steady state: everything observed, no writes, Ready", () => {
    const d = decide(
      binding({}, grantedStatus(P1)),
      observed({ roleAssignments: [ourRa(P1)], appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] } }),
      { now: NOW },
    );
    expect(d.actions).toEqual([]);
    expect(d.status.grants).toBe("2/2");
    expect(cond(d.status, "Ready")).toMatchObject({ status: "True", reason: "Ready" });
    expect(cond(d.status, "Reconciling")?.status).toBe("False");
    expect(cond(d.status, "Stalled")?.status).toBe("False");
    expect(d.requeueAfterMs).toBeUndefined();
  });

  it("an existing assignment under another name is adopted, not duplicated", () => {
    const d = decide(binding(), observed({ roleAssignments: [foreignRa(P1)] }), { now: NOW });
    expect(d.actions.filter((a) => a.type === "createRoleAssignment")).toEqual([]);
    expect(d.status.roleAssignments?.[0]).toMatchObject({ state: "Granted", ownership: "Adopted" });
  });

  it("crash between create and status write: our deterministic name is recognised as ours", () => {
    const d = decide(binding(), observed({ roleAssignments: [ourRa(P1)] }), { now: NOW });
    expect(d.status.roleAssignments?.[0]).toMatchObject({ state: "Granted", ownership: "Created" });
  });

  it("a Graph assignment created earlier in this reconcile is recorded as ours", () => {
    const d = decide(
      binding(),
      observed({
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1, "new-id")] },
        createdAppRoleAssignmentIds: ["new-id"],
      }),
      { now: NOW },
    );
    expect(d.status.appRoleAssignments?.[0]).toMatchObject({
      id: "new-id",
      ownership: "Created",
      state: "Granted",
    });
  });

  it("an intent in the record makes a Graph assignment ours, so a lost record write cannot turn it into Adopted", () => {
    const first = decide(binding(), observed(), { now: NOW });
    expect(first.actions).toContainEqual(expect.objectContaining({ type: "createAppRoleAssignment" }));
    // The create landed but the pass that made it never recorded the ID: the write-ahead intent says it is ours.
    const later = decide(
      binding({}, first.status),
      observed({
        roleAssignments: [ourRa(P1)],
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] },
        record: recordOf(P1, { graph: [], intents: [appRa(P1)] }),
      }),
      { now: NOW },
    );
    expect(later.status.appRoleAssignments?.[0]).toMatchObject({
      state: "Granted",
      ownership: "Created",
      id: appRa(P1).id,
    });
  });

  it("deletion revokes an assignment known only by a recorded intent", () => {
    const d = decide(
      binding({}, undefined, { deletionTimestamp: NOW }),
      observed({
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1), appRa(FOREIGN)] },
        record: recordOf(P1, { graph: [], intents: [appRa(P1)] }),
      }),
      { now: NOW },
    );
    expect(d.actions).toEqual([
      expect.objectContaining({ type: "deleteAppRoleAssignment", id: appRa(P1).id, why: "deleted" }),
    ]);
  });

  it("unknown role: Stalled naming it, the other grants still proceed", () => {
    const d = decide(
      binding(),
      observed({ roles: [{ scope: KV, role: "Key Vault Secrets User", definition: undefined }] }),
      { now: NOW },
    );
    expect(cond(d.status, "Stalled")).toMatchObject({ status: "True", reason: "RoleNotFound" });
    expect(cond(d.status, "Stalled")?.message).toContain("Key Vault Secrets User");
    expect(d.actions.map((a) => a.type)).toEqual(["createAppRoleAssignment"]);
    // The Stalled Event on this transition is the engine's (shared/pass.ts); decide says the object is stalled.
    expect(d.stalled).toBe(true);
  });

  it("unknown app role: Stalled listing the values that exist", () => {
    const d = decide(
      binding({ appRoleAssignments: [{ api: "api://orders", appRole: "Orders.Write" }] }),
      observed(),
      { now: NOW },
    );
    const stalled = cond(d.status, "Stalled");
    expect(stalled).toMatchObject({ status: "True", reason: "AppRoleNotFound" });
    expect(stalled?.message).toContain("Orders.Write");
    expect(stalled?.message).toContain("AddRole, ReadRole");
  });

  it("unknown API: Stalled", () => {
    const d = decide(binding(), observed({ apis: [{ api: "api://orders", servicePrincipal: undefined }] }), {
      now: NOW,
    });
    expect(cond(d.status, "Stalled")).toMatchObject({ status: "True", reason: "ApiNotFound" });
  });

  it("scope the operator may not read: Stalled AccessDenied", () => {
    const d = decide(
      binding(),
      observed({
        roles: [
          {
            scope: KV,
            role: "Key Vault Secrets User",
            definition: undefined,
            problem: { reason: "AccessDenied", message: "403 at kv" },
          },
        ],
      }),
      { now: NOW },
    );
    expect(cond(d.status, "Stalled")).toMatchObject({
      status: "True",
      reason: "AccessDenied",
      message: "403 at kv",
    });
  });

  it("PrincipalNotFound after create: no second create in the same reconcile, waits for replication", () => {
    const d = decide(
      binding(),
      observed({
        applyFailures: {
          [`rbac|${KV.toLowerCase()}|key vault secrets user`]: {
            reason: "WaitingForPrincipalReplication",
            message: "principal not replicated to Azure RBAC yet; retrying",
          },
        },
      }),
      { now: NOW },
    );
    expect(d.actions.filter((a) => a.type === "createRoleAssignment")).toEqual([]);
    expect(cond(d.status, "RoleAssignmentsReady")).toMatchObject({
      status: "False",
      reason: "WaitingForPrincipalReplication",
    });
    expect(cond(d.status, "Stalled")?.status).toBe("False");
    expect(d.requeueAfterMs).toBeGreaterThan(0);
  });

  it("backs off while replication takes long: the poll grows with the time already waited, capped at a minute", () => {
    const failure = {
      [`rbac|${KV.toLowerCase()}|key vault secrets user`]: {
        reason: "WaitingForPrincipalReplication" as const,
        message: "principal not replicated to Azure RBAC yet; retrying",
      },
    };
    const first = decide(binding(), observed({ applyFailures: failure }), {
      now: NOW,
      replicationPollMs: 2_000,
    });
    expect(first.requeueAfterMs).toBe(2_000);
    const after40s = decide(binding({}, first.status), observed({ applyFailures: failure }), {
      now: "2026-11-28T10:00:40Z",
      replicationPollMs: 2_000,
    });
    expect(after40s.requeueAfterMs).toBe(20_000);
    const after10min = decide(binding({}, first.status), observed({ applyFailures: failure }), {
      now: "2026-11-28T10:10:00Z",
      replicationPollMs: 2_000,
    });
    expect(after10min.requeueAfterMs).toBe(60_000);
  });

  it("a grant deleted behind our back is recreated as a drift repair", () => {
    const d = decide(
      binding({}, grantedStatus(P1)),
      observed({ appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] } }),
      { now: NOW },
    );
    expect(d.actions).toEqual([expect.objectContaining({ type: "createRoleAssignment", driftRepair: true })]);
  });

  it("a grant our record held and Azure lost is a drift repair even when the cached status is older than Ready", () => {
    // The status the pass reads may predate the Ready write (a lagging cache): the record, not status, tells.
    const lost = [lostRbacKey(KV, KV_USER, P1), lostGraphKey(ORDERS_SP, ADD_ROLE, P1)];
    const d = decide(binding(), observed({ lostGrants: lost }), { now: NOW });
    expect(d.actions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "createRoleAssignment", driftRepair: true }),
        expect.objectContaining({ type: "createAppRoleAssignment", driftRepair: true }),
      ]),
    );
    const first = decide(binding(), observed(), { now: NOW });
    expect(first.actions.filter((a) => "driftRepair" in a && a.driftRepair)).toEqual([]);
  });

  it("grants removed from the spec: ours are revoked, adopted ones only forgotten", () => {
    const status = grantedStatus(P1);
    status.appRoleAssignments![0]!.ownership = "Adopted";
    const d = decide(
      binding({ roleAssignments: [], appRoleAssignments: [] }, status),
      observed({ roleAssignments: [ourRa(P1)], appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] } }),
      { now: NOW },
    );
    expect(d.actions).toEqual([
      expect.objectContaining({ type: "deleteRoleAssignment", id: ourRa(P1).id, why: "removedFromSpec" }),
    ]);
    expect(d.status.grants).toBe("0/0");
  });

  it("never deletes a status entry whose name is not the one the operator would have given it", () => {
    const status = grantedStatus(P1);
    const foreign = foreignRa(P1);
    status.roleAssignments![0] = { ...status.roleAssignments![0]!, id: foreign.id };
    const d = decide(
      binding({ roleAssignments: [] }, status),
      observed({ roleAssignments: [foreign], appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] } }),
      { now: NOW },
    );
    expect(d.actions.filter((a) => a.type === "deleteRoleAssignment")).toEqual([]);
  });

  it("identifier URI with a trailing slash that the registration lacks: AudienceWarning", () => {
    const d = decide(
      binding({ appRoleAssignments: [{ api: "api://orders/", appRole: "AddRole" }] }),
      observed({
        apis: [{ api: "api://orders/", servicePrincipal: ordersSp, nearMissIdentifierUri: "api://orders" }],
      }),
      { now: NOW },
    );
    expect(cond(d.status, "AudienceWarning")).toMatchObject({
      status: "True",
      reason: "IdentifierUriMismatch",
    });
    expect(cond(d.status, "AudienceWarning")?.message).toContain("'api://orders'");
  });
});

describe("decide: heal after the identity is recreated", () => {
  it("grants everything to the new principal first, keeps the orphans until then, and records the heal", () => {
    const d = decide(
      binding({}, grantedStatus(P1)),
      observed({
        logicApp: logicApp(P2),
        roleAssignments: [ourRa(P1), foreignRa(FOREIGN)],
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] },
      }),
      { now: NOW },
    );
    expect(d.actions.map((a) => [a.type, "principalId" in a ? a.principalId : undefined])).toEqual([
      ["createRoleAssignment", P2],
      ["createAppRoleAssignment", P2],
    ]);
    expect(d.status.principalId).toBe(P2);
    expect(d.status.lastHeal).toEqual({
      previousPrincipalId: P1,
      principalId: P2,
      time: NOW,
      regranted: 2,
      swept: 2,
    });
    expect(d.events.map((e) => e.reason)).toContain("IdentityRecreated");
    expect(d.status.roleAssignments?.filter((s) => s.state === "Revoking").map((s) => s.principalId)).toEqual(
      [P1],
    );
  });

  it("then sweeps only the old principal's grants this binding created; foreign ones at the same scope survive", () => {
    const healed = decide(binding({}, grantedStatus(P1)), observed({ logicApp: logicApp(P2) }), {
      now: NOW,
    }).status;
    const d = decide(
      binding(
        {},
        {
          ...healed,
          roleAssignments: [...(grantedStatus(P1).roleAssignments ?? [])],
          appRoleAssignments: [...(grantedStatus(P1).appRoleAssignments ?? [])],
        },
      ),
      observed({
        logicApp: logicApp(P2),
        roleAssignments: [ourRa(P1), ourRa(P2), foreignRa(FOREIGN), foreignRa(P1)],
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1), appRa(P2), appRa(FOREIGN)] },
        record: recordOf(P1, { graph: [appRa(P1), appRa(P2)] }),
      }),
      { now: NOW },
    );
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: "deleteRoleAssignment",
        id: ourRa(P1).id,
        principalId: P1,
        why: "orphaned",
      }),
      expect.objectContaining({
        type: "deleteAppRoleAssignment",
        id: appRa(P1).id,
        principalId: P1,
        why: "orphaned",
      }),
    ]);
    expect(cond(d.status, "Ready")?.status).toBe("True");
  });

  it("while the identity is off, keeps the old principal's records even if Azure already dropped them", () => {
    // Graph deletes a deleted principal's app-role assignments itself; the heal must still account for them.
    const d = decide(
      binding({}, grantedStatus(P1)),
      observed({ logicApp: logicApp(undefined), roleAssignments: [ourRa(P1)] }),
      { now: NOW },
    );
    expect(d.status.appRoleAssignments?.filter((s) => s.principalId === P1)).toHaveLength(1);
    const healed = decide(
      binding({}, d.status),
      observed({ logicApp: logicApp(P2), roleAssignments: [ourRa(P1)] }),
      { now: NOW },
    );
    expect(healed.status.lastHeal).toMatchObject({ previousPrincipalId: P1, principalId: P2, swept: 2 });
  });

  it("recognises an orphan by its deterministic name even when status lost the entry", () => {
    const d = decide(
      binding({}, { principalId: P1, conditions: [] }),
      observed({
        logicApp: logicApp(P2),
        roleAssignments: [ourRa(P1), ourRa(P2), foreignRa(P1)],
        appRoleAssignments: { [ORDERS_SP]: [appRa(P2)] },
        createdAppRoleAssignmentIds: [appRa(P2).id],
      }),
      { now: NOW },
    );
    expect(d.actions).toEqual([
      expect.objectContaining({ type: "deleteRoleAssignment", id: ourRa(P1).id, why: "orphaned" }),
    ]);
  });
});

describe("decide: deletion", () => {
  const deleting = { deletionTimestamp: NOW };
  it("Delete policy: revokes only what this binding created", () => {
    const status = grantedStatus(P1);
    status.appRoleAssignments![0]!.ownership = "Adopted";
    const d = decide(
      binding({}, status, deleting),
      observed({
        roleAssignments: [ourRa(P1), foreignRa(FOREIGN)],
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] },
      }),
      { now: NOW },
    );
    expect(d.actions).toEqual([
      expect.objectContaining({ type: "deleteRoleAssignment", id: ourRa(P1).id, why: "deleted" }),
    ]);
  });

  it("Delete policy: once grants are gone, turns off the identity it turned on, then releases the finalizer", () => {
    const d1 = decide(binding({}, grantedStatus(P1), deleting), observed({ record: recordOf(P1) }), {
      now: NOW,
    });
    expect(d1.actions).toEqual([
      expect.objectContaining({
        type: "setIdentity",
        desired: { type: "None", userAssignedIdentityIds: [] },
        why: "disableOnDelete",
      }),
    ]);
    const d2 = decide(binding({}, grantedStatus(P1), deleting), observed({ logicApp: logicApp(undefined) }), {
      now: NOW,
    });
    expect(d2.actions).toEqual([]);
    expect(d2.finalize).toBe(true);
  });

  it("Delete policy: an identity that was on before the binding stays on", () => {
    const d = decide(
      binding({}, grantedStatus(P1, { identityEnabledByOperator: false }), deleting),
      observed(),
      { now: NOW },
    );
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
  });

  it("Orphan policy: leaves Azure alone", () => {
    const d = decide(
      binding({ deletionPolicy: "Orphan" }, grantedStatus(P1), deleting),
      observed({ roleAssignments: [ourRa(P1)] }),
      { now: NOW },
    );
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
  });

  it("a Logic App that no longer exists is not an error: grants are still revoked", () => {
    const d = decide(
      binding({}, grantedStatus(P1), deleting),
      observed({
        logicApp: { exists: false, kind: "Consumption", identity: { type: "None", userAssigned: [] } },
        roleAssignments: [ourRa(P1)],
        appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] },
        record: recordOf(P1),
      }),
      { now: NOW },
    );
    expect(d.actions.map((a) => a.type)).toEqual(["deleteRoleAssignment", "deleteAppRoleAssignment"]);
  });

  it("without our finalizer there is nothing to do", () => {
    const d = decide(binding({}, grantedStatus(P1), { ...deleting, finalizers: [] }), observed(), {
      now: NOW,
    });
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(false);
  });
});

describe("decide: conditions", () => {
  it("keeps lastTransitionTime when the status does not change", () => {
    const first = decide(
      binding({}, grantedStatus(P1)),
      observed({ roleAssignments: [ourRa(P1)], appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] } }),
      { now: NOW },
    );
    const later = decide(
      binding({}, first.status),
      observed({ roleAssignments: [ourRa(P1)], appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] } }),
      { now: "2026-11-28T11:00:00Z" },
    );
    expect(cond(later.status, "Ready")?.lastTransitionTime).toBe(NOW);
    expect(later.status).toEqual(first.status);
  });

  it("sets observedGeneration on status and every condition", () => {
    const d = decide(binding({}, undefined, { generation: 7 }), observed(), { now: NOW });
    expect(d.status.observedGeneration).toBe(7);
    expect(d.status.conditions?.every((c) => c.observedGeneration === 7)).toBe(true);
  });
});

describe("decide: ownership comes from Azure and the record, never from status", () => {
  const deleting = { deletionTimestamp: NOW };
  const ownerRa: RoleAssignment = {
    id: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/bbbbbbbb-0000-0000-0000-000000000000`,
    name: "bbbbbbbb-0000-0000-0000-000000000000",
    scope: `/subscriptions/${SUB}`,
    roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635`,
    principalId: FOREIGN,
  };
  const forged = (): BindingStatus => ({
    ...grantedStatus(P1),
    identityEnabledByOperator: true,
    roleAssignments: [
      {
        scope: ownerRa.scope,
        role: "Owner",
        roleDefinitionId: ownerRa.roleDefinitionId,
        id: ownerRa.id,
        principalId: FOREIGN,
        state: "Granted",
        ownership: "Created",
      },
    ],
    appRoleAssignments: [
      {
        api: "api://orders",
        appRole: "AddRole",
        resourceId: ORDERS_SP,
        appRoleId: ADD_ROLE,
        id: appRa(FOREIGN).id,
        principalId: FOREIGN,
        state: "Granted",
        ownership: "Created",
      },
    ],
  });

  it("a forged status deletes nothing and turns nothing off, on update and on deletion", () => {
    const world = observed({
      roleAssignments: [ownerRa, foreignRa(P1)],
      appRoleAssignments: { [ORDERS_SP]: [appRa(FOREIGN), appRa(P1)] },
    });
    const update = decide(binding({ roleAssignments: [], appRoleAssignments: [] }, forged()), world, {
      now: NOW,
    });
    expect(update.actions).toEqual([]);
    const del = decide(binding({}, forged(), deleting), world, { now: NOW });
    expect(del.actions).toEqual([]);
    expect(del.finalize).toBe(true);
  });

  it("a record cannot make someone else's role assignment ours: the marker must name this object", () => {
    const otherMarker = { ...ourRa(P1), description: ownershipMarker("intruder", "orders", "uid-x") };
    const record = { ...recordOf(P1), rbac: [{ ...otherMarker, roleDefinitionId: KV_USER }] };
    const d = decide(binding({}, undefined, deleting), observed({ roleAssignments: [otherMarker], record }), {
      now: NOW,
    });
    expect(d.actions.filter((a) => a.type === "deleteRoleAssignment")).toEqual([]);
  });

  it("a restored object (new UID, no status) revokes what its record lists under its old UID's marker", () => {
    const old = ourRa(P1); // marker names team/orders with UID uid-1
    const record = {
      ...recordOf(P1),
      rbac: [{ id: old.id, scope: KV, roleDefinitionId: KV_USER, principalId: P1 }],
    };
    const d = decide(
      binding({}, undefined, { ...deleting, uid: "uid-restored" }),
      observed({ roleAssignments: [old], appRoleAssignments: { [ORDERS_SP]: [appRa(P1)] }, record }),
      { now: NOW },
    );
    expect(d.actions.map((a) => [a.type, "id" in a ? a.id : ""])).toEqual([
      ["deleteRoleAssignment", old.id],
      ["deleteAppRoleAssignment", appRa(P1).id],
    ]);
    // Without the record, the old UID's marker alone is not enough.
    const without = decide(
      binding({}, undefined, { ...deleting, uid: "uid-restored" }),
      observed({ roleAssignments: [old] }),
      { now: NOW },
    );
    expect(without.actions).toEqual([]);
  });

  it("the identity the record says it turned on stays on while another binding names the Logic App", () => {
    const d = decide(
      binding({}, grantedStatus(P1), deleting),
      observed({ record: recordOf(P1), othersOnLogicApp: 1 }),
      { now: NOW },
    );
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
  });

  it("an identity re-enabled by someone else (a principal the record never saw) is not turned off", () => {
    const d = decide(
      binding({}, grantedStatus(P2), deleting),
      observed({ logicApp: logicApp(P2), record: recordOf(P1, { graph: [] }) }),
      { now: NOW },
    );
    expect(d.actions).toEqual([]);
  });

  it("a binding whose Logic App another binding holds is Stalled LogicAppClaimed and writes nothing", () => {
    const d = decide(binding(), observed({ claimedBy: "team-a/orders" }), { now: NOW });
    expect(d.actions).toEqual([]);
    expect(d.stalled).toBe(true);
    expect(cond(d.status, "Stalled")).toMatchObject({ status: "True", reason: "LogicAppClaimed" });
    expect(cond(d.status, "Stalled")?.message).toContain("team-a/orders");
    const del = decide(
      binding({}, grantedStatus(P1), deleting),
      observed({
        claimedBy: "team-a/orders",
        roleAssignments: [ourRa(P1)],
        record: recordOf(P1),
      }),
      { now: NOW },
    );
    expect(del.actions).toEqual([]);
    expect(del.finalize).toBe(true);
  });
});
