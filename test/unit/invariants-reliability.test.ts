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
