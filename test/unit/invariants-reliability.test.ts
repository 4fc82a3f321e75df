/**
 * The reliability matrix's checks (issue 16) on hand-built inputs: each passes a sound case and reports the broken
 * one, so a matrix run that prints "invariants held" cannot be vacuous.
 */
import { describe, expect, it } from "vitest";
import { emptyState } from "../../emulator/state.ts";
import { emptyBindingRecord } from "../../src/controllers/shared/ownership.ts";
import {
  findStatusDisagreements,
  findUnconverged,
  findViolations,
  findWriteLoops,
  foreignOf,
  type BindingStatusView,
  type LoggedRequest,
  type ObservedObject,
  type World,
} from "../support/invariants.ts";

const LA = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders";
const ready = { type: "Ready", status: "True", reason: "Ready", message: "all grants in effect" };
const stalled = (reason: string, message: string) => [
  { type: "Ready", status: "False", reason, message },
  { type: "Stalled", status: "True", reason, message },
];
const obj = (conditions: ObservedObject["status"] extends infer S ? S : never, gen = 1): ObservedObject => ({
  kind: "LogicAppIdentityBinding",
  namespace: "ns",
  name: "x",
  generation: gen,
  status: conditions,
});

describe("findUnconverged", () => {
  it("accepts Ready and Stalled with a readable reason", () => {
    expect(findUnconverged([obj({ observedGeneration: 1, conditions: [ready] })])).toEqual([]);
    expect(
      findUnconverged([
        obj({ observedGeneration: 1, conditions: stalled("InvalidScope", "scope contains a '..' segment") }),
      ]),
    ).toEqual([]);
  });
  it("reports an object on its way, an old generation, a bare reason and a stack trace", () => {
    expect(findUnconverged([obj({ observedGeneration: 1, conditions: [] })])[0]).toMatch(/neither/);
    expect(findUnconverged([obj({ observedGeneration: 1, conditions: [ready] }, 2)])[0]).toMatch(/neither/);
    // Ready held through a transient failure is not converged (ADR 0026): status may predate unseen drift.
    const held = { type: "Synced", status: "False", reason: "AzureUnavailable", message: "500 on a read" };
    expect(findUnconverged([obj({ observedGeneration: 1, conditions: [ready, held] })])[0]).toMatch(
      /last pass failed \(Synced=False AzureUnavailable\)/,
    );
    const again = { ...held, status: "True", reason: "Succeeded" };
    expect(findUnconverged([obj({ observedGeneration: 1, conditions: [ready, again] })])).toEqual([]);
    expect(findUnconverged([obj({ observedGeneration: 1, conditions: stalled("x", "bad") })])).toHaveLength(
      2,
    );
    expect(
      findUnconverged([
        obj({ observedGeneration: 1, conditions: stalled("Error", "TypeError: x\n    at f (a.ts:1)") }),
      ])[0],
    ).toMatch(/internal error/);
  });
});

function world(principal: string | undefined): World {
  const state = emptyState();
  state.workflows[LA.toLowerCase()] = {
    id: LA,
    subscriptionId: "s",
    resourceGroup: "rg",
    name: "orders",
    location: "westeurope",
    tags: {},
    properties: {},
    createdTime: "",
    changedTime: "",
    version: "",
    accessEndpointId: "",
    identity: { userAssignedIds: ["/u/1"], ...(principal ? { systemPrincipalId: principal } : {}) },
  };
  state.appRoleAssignments["g1"] = {
    id: "g1",
    appRoleId: "r",
    principalId: "p-old",
    principalType: "ServicePrincipal",
    principalDisplayName: "",
    resourceId: "sp",
    resourceDisplayName: "",
    createdDateTime: "",
  };
  const record = {
    ...emptyBindingRecord({ namespace: "ns", name: "x", uid: "u" }, LA),
    graph: [
      {
        resourceId: "sp",
        principalId: "p-old",
        appRoleId: "r",
        assignmentId: "g1",
        state: "created" as const,
      },
    ],
  };
  return {
    state,
    records: {
      bindings: [{ namespace: "ns", name: "x", record }],
      jwtPolicies: [],
      liveBindings: new Set(["ns/x"]),
      liveJwtPolicies: new Set(),
    },
  };
}

const binding = (principalId: string, grants: string): BindingStatusView => ({
  ...obj({ observedGeneration: 1, conditions: [ready] }),
  spec: { logicAppId: LA, identity: { type: "SystemAssigned" } },
  status: { observedGeneration: 1, conditions: [ready], principalId, grants },
});

describe("findStatusDisagreements", () => {
  it("accepts a status that names Azure's principal and the recorded grants", () => {
    expect(findStatusDisagreements(world("p-old"), [binding("p-old", "1/1")])).toEqual([]);
  });
  it("reports a stale principal, grants to another principal and a wrong count", () => {
    const v = findStatusDisagreements(world("p-new"), [binding("p-old", "2/2")]);
    expect(v.join("\n")).toMatch(/Azure holds p-new/);
    expect(v.join("\n")).toMatch(/made to p-old, not p-new/);
    expect(v.join("\n")).toMatch(/reports grants 2\/2, its record holds 1/);
  });
});

describe("identities survive (invariant 3)", () => {
  it("reports a system identity turned off and a user-assigned one detached", () => {
    const before = foreignOf(world("p"));
    expect(findViolations(before, world("p"), { converged: false })).toEqual([]);
    const after = world(undefined);
    after.state.workflows[LA.toLowerCase()]!.identity.userAssignedIds = [];
    expect(findViolations(before, after, { converged: false })).toEqual([]);
    const v = findViolations(before, after, { converged: false, identities: true }).join("\n");
    expect(v).toMatch(/system identity .* was turned off/);
    expect(v).toMatch(/user-assigned identity \/u\/1 was detached/);
  });
});

describe("applications (issue 13): never deleted or altered unless the operator created them", () => {
  const withApp = (): World => {
    const w = world("p");
    w.state.applications["app-1"] = {
      id: "app-1",
      appId: "c1",
      displayName: "registered by hand",
      identifierUris: ["api://team/by-hand"],
      appRoles: [
        {
          id: "r1",
          value: "Manual",
          displayName: "Manual",
          description: "",
          allowedMemberTypes: ["Application"],
          isEnabled: true,
          origin: "Application",
        },
      ],
      signInAudience: "AzureADMyOrg",
      requestedAccessTokenVersion: null,
      requiredResourceAccess: [],
      publisherDomain: "contoso.example",
      createdDateTime: "",
      createdAt: 0,
      owners: [],
      deletedDateTime: null,
      deletedAt: null,
    };
    return w;
  };
  it("reports a soft-deleted application, a changed URI and a disabled or removed app role", () => {
    const before = foreignOf(withApp());
    expect(findViolations(before, withApp())).toEqual([]);
    // An application the operator created after the snapshot is its own business.
    const later = withApp();
    later.state.applications["app-2"] = { ...later.state.applications["app-1"]!, id: "app-2" };
    expect(findViolations(before, later)).toEqual([]);
    const deleted = withApp();
    deleted.state.applications["app-1"]!.deletedDateTime = "2026-12-04T00:00:00Z";
    expect(findViolations(before, deleted).join("\n")).toMatch(/foreign application app-1 was deleted/);
    const uri = withApp();
    uri.state.applications["app-1"]!.identifierUris = ["api://team/by-hand/"];
    expect(findViolations(before, uri).join("\n")).toMatch(/foreign application app-1 was changed/);
    const disabled = withApp();
    disabled.state.applications["app-1"]!.appRoles[0]!.isEnabled = false;
    expect(findViolations(before, disabled).join("\n")).toMatch(/was changed/);
    const removed = withApp();
    removed.state.applications["app-1"]!.appRoles = [];
    expect(findViolations(before, removed).join("\n")).toMatch(/was changed/);
  });
});

describe("connection access policies (issue 14)", () => {
  const CONN = "/subscriptions/s/resourcegroups/rg/providers/microsoft.web/connections/sql";
  const pol = (name: string, objectId: string) => ({
    name,
    location: "westeurope",
    principal: { type: "ActiveDirectory", identity: { objectId, tenantId: "t" } },
  });
  const withConn = (policies: ReturnType<typeof pol>[], recorded: string[] = []): World => {
    const w = world("p-new");
    w.state.connections[CONN] = {
      id: CONN,
      subscriptionId: "s",
      resourceGroup: "rg",
      name: "sql",
      location: "westeurope",
      kind: "V2",
      tags: {},
      properties: {},
      createdTime: "",
      changedTime: "",
      accessPolicies: Object.fromEntries(policies.map((p) => [p.name.toLowerCase(), p])),
    };
    w.records.bindings[0]!.record.connectionPolicies = recorded.map((name) => ({
      connectionId: CONN,
      name,
      principalId: name.slice(5),
    }));
    return w;
  };
  it("accepts the policy for the current principal beside a person's", () => {
    const before = foreignOf(withConn([pol("by-hand", "alice")]));
    expect(before.connectionPolicies).toEqual({ [`${CONN}|by-hand`]: "alice" });
    const after = withConn([pol("by-hand", "alice"), pol("laio-p-new", "p-new")], ["laio-p-new"]);
    expect(findViolations(before, after)).toEqual([]);
  });
  it("reports a person's policy removed or re-pointed, a stale laio- policy, and a record naming a gone one", () => {
    const before = foreignOf(withConn([pol("by-hand", "alice")]));
    const removed = withConn([pol("laio-p-new", "p-new")], ["laio-p-new"]);
    expect(findViolations(before, removed).join("\n")).toMatch(
      /foreign connection access policy .*by-hand was deleted/,
    );
    const repointed = withConn([pol("by-hand", "p-new"), pol("laio-p-new", "p-new")], ["laio-p-new"]);
    expect(findViolations(before, repointed).join("\n")).toMatch(/by-hand was re-pointed/);
    // After the identity was recreated, the old principal's policy of ours must go.
    const stale = withConn(
      [pol("by-hand", "alice"), pol("laio-p-old", "p-old"), pol("laio-p-new", "p-new")],
      ["laio-p-old", "laio-p-new"],
    );
    expect(findViolations(before, stale).join("\n")).toMatch(/stale connection access policy .*laio-p-old/);
    const dangling = withConn([pol("by-hand", "alice")], ["laio-p-new"]);
    expect(findViolations(before, dangling).join("\n")).toMatch(/lists connection access policy laio-p-new/);
  });
});

const put = (seq: number, path: string, extra: Partial<LoggedRequest> = {}): LoggedRequest => ({
  seq,
  method: "PUT",
  path,
  query: "?api-version=1",
  status: 201,
  outcome: "response",
  bodyHash: "b1",
  ...extra,
});

describe("findWriteLoops", () => {
  it("reports the same write twice with nothing between", () => {
    expect(findWriteLoops([put(1, "/ra/1"), put(5, "/ra/1")])[0]).toMatch(/#1 and #5/);
  });
  it("accepts a repeat after a deletion, a declared change, a fault on the first, or another body", () => {
    expect(findWriteLoops([put(1, "/ra/1"), put(2, "/ra/1", { method: "DELETE" }), put(3, "/ra/1")])).toEqual(
      [],
    );
    expect(findWriteLoops([put(1, "/ra/1"), put(5, "/ra/1")], { changesAt: [3] })).toEqual([]);
    expect(findWriteLoops([put(1, "/ra/1", { faultIds: ["f"] }), put(5, "/ra/1")])).toEqual([]);
    expect(
      findWriteLoops([put(1, "/ra/1"), put(3, "/ra/1", { method: "GET", faultIds: ["m"] }), put(5, "/ra/1")]),
    ).toEqual([]);
    expect(
      findWriteLoops([put(1, "/ra/1"), put(3, "/ra/2", { method: "GET", faultIds: ["m"] }), put(5, "/ra/1")]),
    ).toHaveLength(1);
    expect(findWriteLoops([put(1, "/p"), put(5, "/p", { bodyHash: "b2" })])).toEqual([]);
    expect(findWriteLoops([put(1, "/ra/1", { status: 500 }), put(5, "/ra/1")])).toEqual([]);
  });
});
