import { describe, expect, it } from "vitest";
import { FINALIZER, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { BindingDecision } from "./decide.ts";
import { connectionPolicyName, decideWorkflows, IGNORE_ACTIONS_ANNOTATION } from "./decide-workflows.ts";
import type { BindingObservation, ConnectionObservation, WorkflowsObservation } from "./model.ts";

const SITE =
  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Web/sites/app";
const CONN =
  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Web/connections/sql";
const P1 = "11111111-1111-1111-1111-111111111111";
const P2 = "22222222-2222-2222-2222-222222222222";
const TENANT = "33333333-3333-3333-3333-333333333333";

function binding(annotations?: Record<string, string>): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: {
      name: "b",
      namespace: "ns",
      uid: "u",
      generation: 1,
      finalizers: [FINALIZER],
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      logicAppId: SITE,
      identity: { type: "SystemAssigned" },
      appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
    },
  };
}

function base(
  principalId: string | undefined,
  lastHeal?: { previousPrincipalId: string; principalId: string; time: string },
): BindingDecision {
  return {
    actions: [],
    status: {
      ...(principalId ? { principalId, tenantId: TENANT } : {}),
      ...(lastHeal ? { lastHeal: { ...lastHeal, regranted: 1, swept: 0 } } : {}),
    },
    conditions: [],
    finalize: false,
    stalled: false,
    findings: [],
  };
}

function observed(
  w: Partial<WorkflowsObservation>,
  connectionPolicies: { connectionId: string; name: string; principalId: string }[] = [],
): BindingObservation {
  return {
    logicApp: {
      exists: true,
      kind: "Standard",
      identity: { type: "SystemAssigned", principalId: P2, tenantId: TENANT, userAssigned: [] },
    },
    roles: [],
    roleAssignments: [],
    apis: [],
    appRoleAssignments: {},
    createdAppRoleAssignmentIds: [],
    applyFailures: {},
    record: {
      uid: "u",
      logicAppId: SITE.toLowerCase(),
      identity: { enabledByOperator: false, systemPrincipalIds: [], attachedUserAssignedIds: [] },
      graph: [],
      rbac: [],
      connectionPolicies,
    },
    workflows: {
      kind: "Standard",
      definitions: [],
      apis: [{ api: "api://orders", appId: "app", identifierUris: ["api://orders"] }],
      msiConnections: [],
      connections: [],
      ...w,
    },
  };
}

const conn = (
  policies: { name: string; objectId: string }[],
  over: Partial<ConnectionObservation> = {},
): ConnectionObservation => ({
  connectionId: CONN,
  source: "connections.json",
  exists: true,
  location: "westeurope",
  accessPolicies: policies,
  ...over,
});

const http = (audience: string) => ({
  type: "Http",
  inputs: { uri: "https://x", authentication: { type: "ManagedServiceIdentity", audience } },
});

describe("decideWorkflows: WorkflowConsistent", () => {
  it("False with the exact mismatch, a Warning and a metric; Ready and the base decision untouched", () => {
    const d = decideWorkflows(
      binding(),
      observed({
        definitions: [{ workflow: "wf", definition: { actions: { Call: http("api://orders/") } } }],
      }),
      base(P2),
    );
    const c = d.conditions.find((x) => x.type === "WorkflowConsistent")!;
    expect(c.status).toBe("False");
    expect(c.message).toContain('workflow "wf", action "Call": audience "api://orders/"');
    expect(d.findings).toEqual([
      expect.objectContaining({
        event: expect.objectContaining({ type: "Warning", reason: "WorkflowMismatch" }),
        metric: { name: "workflowMismatch", facet: "audience" },
      }),
    ]);
    expect(d.stalled).toBe(false);
  });

  it("no Event again while the finding is unchanged", () => {
    const b = binding();
    const o = observed({
      definitions: [{ workflow: "wf", definition: { actions: { Call: http("api://orders/") } } }],
    });
    const first = decideWorkflows(b, o, base(P2)).conditions.find((x) => x.type === "WorkflowConsistent")!;
    b.status = {
      conditions: [{ ...first, message: first.message ?? "", lastTransitionTime: "2026-01-01T00:00:00Z" }],
    };
    expect(decideWorkflows(b, o, base(P2)).findings).toEqual([]);
  });

  it("silenced by annotation: True, and says so", () => {
    const d = decideWorkflows(
      binding({ [IGNORE_ACTIONS_ANNOTATION]: "wf/Call" }),
      observed({
        definitions: [{ workflow: "wf", definition: { actions: { Call: http("api://orders/") } } }],
      }),
      base(P2),
    );
    const c = d.conditions.find((x) => x.type === "WorkflowConsistent")!;
    expect(c.status).toBe("True");
    expect(c.message).toContain("silenced");
  });

  it("Unknown when the definitions could not be read", () => {
    const d = decideWorkflows(
      binding(),
      observed({ definitions: undefined, problem: "403 AuthorizationFailed" }),
      base(P2),
    );
    expect(d.conditions.find((x) => x.type === "WorkflowConsistent")).toMatchObject({
      status: "Unknown",
      reason: "WorkflowsUnreadable",
    });
  });

  it("an action that bypasses the gateway of a policy referencing the binding: False, naming both hosts", () => {
    const direct = {
      type: "Http",
      inputs: {
        uri: "https://orders-backend.contoso.com/orders",
        authentication: { type: "ManagedServiceIdentity", audience: "api://orders" },
      },
    };
    const o = (gatewayHosts?: string[]) =>
      observed({
        definitions: [{ workflow: "wf", definition: { actions: { Call: direct } } }],
        ...(gatewayHosts ? { gatewayHosts } : {}),
      });
    const d = decideWorkflows(binding(), o(["apim-orders.azure-api.net", "api.contoso.com"]), base(P2));
    const c = d.conditions.find((x) => x.type === "WorkflowConsistent")!;
    expect(c).toMatchObject({ status: "False", reason: "WorkflowMismatch" });
    expect(c.message).toContain(
      "calls orders-backend.contoso.com, not the API Management gateway (apim-orders.azure-api.net, api.contoso.com)",
    );
    expect(d.findings).toEqual([
      expect.objectContaining({ metric: { name: "workflowMismatch", facet: "host" } }),
    ]);
    // No policy references the binding: the host is not this check's to compare.
    expect(
      decideWorkflows(binding(), o(), base(P2)).conditions.find((x) => x.type === "WorkflowConsistent"),
    ).toMatchObject({ status: "True" });
  });

  it("nothing at all when the ports are not wired", () => {
    const o = { ...observed({}) };
    delete o.workflows;
    const b = base(P2);
    expect(decideWorkflows(binding(), o, b)).toBe(b);
  });
});

describe("decideWorkflows: V2 connection access policies", () => {
  it("creates the current principal's policy with a deterministic name", () => {
    const d = decideWorkflows(binding(), observed({ connections: [conn([])] }), base(P2));
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: "putConnectionAccessPolicy",
        name: connectionPolicyName(P2),
        principalId: P2,
        tenantId: TENANT,
        location: "westeurope",
      }),
    ]);
    expect(d.conditions.find((x) => x.type === "ConnectionsReady")).toMatchObject({
      status: "False",
      reason: "AccessPolicyPending",
    });
  });

  it("after a recreation: put for the new principal, then delete the recorded stale one; someone else's stays", () => {
    const d = decideWorkflows(
      binding(),
      observed(
        {
          connections: [
            conn([
              { name: connectionPolicyName(P1), objectId: P1 },
              { name: "by-hand", objectId: P1 },
            ]),
          ],
        },
        [{ connectionId: CONN.toLowerCase(), name: connectionPolicyName(P1), principalId: P1 }],
      ),
      base(P2),
    );
    expect(d.actions.map((a) => `${a.type}:${"name" in a ? a.name : ""}`)).toEqual([
      `putConnectionAccessPolicy:${connectionPolicyName(P2)}`,
      `deleteConnectionAccessPolicy:${connectionPolicyName(P1)}`,
    ]);
  });

  it("a policy naming the principal already (someone else's) is enough; nothing of ours to write", () => {
    const d = decideWorkflows(
      binding(),
      observed({ connections: [conn([{ name: "by-hand", objectId: P2 }])] }),
      base(P2),
    );
    expect(d.actions).toEqual([]);
    expect(d.conditions.find((x) => x.type === "ConnectionsReady")).toMatchObject({ status: "True" });
  });

  it("a stale policy not in the record is never deleted", () => {
    const d = decideWorkflows(
      binding(),
      observed({
        connections: [
          conn([
            { name: connectionPolicyName(P1), objectId: P1 },
            { name: connectionPolicyName(P2), objectId: P2 },
          ]),
        ],
      }),
      base(P2),
    );
    expect(d.actions).toEqual([]);
  });

  it("a connection no longer wanted: our recorded policy goes", () => {
    const d = decideWorkflows(
      binding(),
      observed(
        { connections: [conn([{ name: connectionPolicyName(P2), objectId: P2 }], { source: "record" })] },
        [{ connectionId: CONN.toLowerCase(), name: connectionPolicyName(P2), principalId: P2 }],
      ),
      base(P2),
    );
    expect(d.actions).toEqual([
      expect.objectContaining({ type: "deleteConnectionAccessPolicy", name: connectionPolicyName(P2) }),
    ]);
  });

  it("refused by the AzureAccessPolicy: no write, False with the reason", () => {
    const refusal = { reason: "NotAllowed" as const, rule: "spec.scopes", message: "namespace may not …" };
    const d = decideWorkflows(
      binding(),
      observed({ connections: [conn([], { refusal, exists: false, accessPolicies: undefined })] }),
      base(P2),
    );
    expect(d.actions).toEqual([]);
    expect(d.conditions.find((x) => x.type === "ConnectionsReady")).toMatchObject({
      status: "False",
      reason: "NotAllowed",
    });
    expect(d.findings.some((f) => f.event?.reason === "NotAllowed")).toBe(true);
  });

  it("no principal yet: nothing written, pending", () => {
    const d = decideWorkflows(binding(), observed({ connections: [conn([])] }), base(undefined));
    expect(d.actions).toEqual([]);
    expect(d.conditions.find((x) => x.type === "ConnectionsReady")).toMatchObject({ status: "False" });
  });
});

describe("decideWorkflows: Consumption connections after a recreated system identity", () => {
  const heal = { previousPrincipalId: P1, principalId: P2, time: "2026-12-01T10:00:00Z" };
  const consumption = (createdTime: string) =>
    observed({
      kind: "Consumption",
      msiConnections: [{ name: "servicebus", connectionId: CONN }],
      connections: [conn([], { source: "$connections", accessPolicies: undefined, createdTime })],
    });

  it("those created before the heal must be recreated, and the message says how", () => {
    const d = decideWorkflows(binding(), consumption("2026-11-01T00:00:00Z"), base(P2, heal));
    const c = d.conditions.find((x) => x.type === "ConnectionsReady")!;
    expect(c).toMatchObject({ status: "False", reason: "ConnectionsNeedRecreation" });
    expect(c.message).toContain(`servicebus (${CONN})`);
    expect(c.message).toContain("create it again");
    expect(d.actions).toEqual([]);
  });

  it("recreated after the heal: True", () => {
    const d = decideWorkflows(binding(), consumption("2026-12-02T00:00:00Z"), base(P2, heal));
    expect(d.conditions.find((x) => x.type === "ConnectionsReady")).toMatchObject({
      status: "True",
      reason: "Recreated",
    });
  });

  it("no heal: no condition", () => {
    const d = decideWorkflows(binding(), consumption("2026-11-01T00:00:00Z"), base(P2));
    expect(d.conditions.find((x) => x.type === "ConnectionsReady")).toBeUndefined();
    expect(d.dropConditions).toContain("ConnectionsReady");
  });
});

describe("decideWorkflows: deletion", () => {
  const deleting = (policy?: "Orphan") => {
    const b = binding();
    b.metadata.deletionTimestamp = "2026-12-04T00:00:00Z";
    if (policy) b.spec.deletionPolicy = policy;
    return b;
  };
  const recorded = [{ connectionId: CONN.toLowerCase(), name: connectionPolicyName(P2), principalId: P2 }];
  const o = () =>
    observed(
      {
        connections: [
          conn(
            [
              { name: connectionPolicyName(P2), objectId: P2 },
              { name: "by-hand", objectId: P2 },
            ],
            { source: "record" },
          ),
        ],
      },
      recorded,
    );
  const done = { ...base(P2), finalize: true };

  it("Delete: our recorded policy goes first and the finalizer waits; someone else's stays", () => {
    const d = decideWorkflows(deleting(), o(), done);
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: "deleteConnectionAccessPolicy",
        name: connectionPolicyName(P2),
        why: "deleted",
      }),
    ]);
    expect(d.finalize).toBe(false);
  });

  it("Orphan: nothing", () => {
    expect(decideWorkflows(deleting("Orphan"), o(), done)).toEqual(done);
  });
});
