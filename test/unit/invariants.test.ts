/**
 * The invariant checker itself, on hand-built worlds: sound worlds pass, and each broken invariant is reported,
 * so the checks the cluster suites run after every test cannot pass vacuously.
 */
import { describe, expect, it } from "vitest";
import { emptyState, type ApimServiceRecord, type RoleAssignmentRecord } from "../../emulator/state.ts";
import { ownershipMarker } from "../../src/azure/naming.ts";
import { emptyBindingRecord, type BindingRecord } from "../../src/controllers/shared/ownership.ts";
import { findViolations, foreignOf, roleAssignmentId, type World } from "../support/invariants.ts";

const SVC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";
const KV = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
const LA = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders";
const owner = { namespace: "team-a", name: "orders", uid: "uid-1" };

function ra(name: string, patch: Partial<RoleAssignmentRecord>): RoleAssignmentRecord {
  return {
    name,
    scope: KV,
    roleDefinitionName: "4633458b-17de-408a-b874-0445c86b69e6",
    principalId: "la-principal",
    principalType: "ServicePrincipal",
    description: null,
    condition: null,
    conditionVersion: null,
    delegatedManagedIdentityResourceId: null,
    createdOn: "2026-01-01T00:00:00Z",
    updatedOn: "2026-01-01T00:00:00Z",
    createdBy: null,
    updatedBy: null,
    ...patch,
  };
}

const arA = (id: string, appRoleId: string, principalId: string) => ({
  id,
  appRoleId,
  principalId,
  principalType: "ServicePrincipal",
  principalDisplayName: principalId,
  resourceId: "sp-1",
  resourceDisplayName: "orders-api",
  createdDateTime: "2026-01-01T00:00:00Z",
});

const POLICY =
  '<policies>\n  <inbound>\n    <base />\n    <include-fragment fragment-id="laio-team-a-orders" />\n    <rate-limit calls="10" renewal-period="60" />\n  </inbound>\n</policies>';

function soundWorld(): World {
  const state = emptyState();
  state.roleAssignments["foreign-1"] = ra("foreign-1", {
    scope: "/subscriptions/s/resourceGroups/rg",
    roleDefinitionName: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    principalId: "alice",
    description: "granted by hand",
  });
  state.roleAssignments["ours-1"] = ra("ours-1", {
    description: ownershipMarker(owner.namespace, owner.name, owner.uid),
  });
  state.appRoleAssignments["g-foreign"] = arA("g-foreign", "role-1", "alice");
  state.appRoleAssignments["g-ours"] = arA("g-ours", "role-2", "la-principal");
  const svc: ApimServiceRecord = {
    id: SVC,
    subscriptionId: "s",
    resourceGroup: "rg",
    name: "apim",
    location: "westeurope",
    apis: {},
    products: {},
    policies: { "apis/orders": { raw: POLICY, etag: "1" } },
    fragments: {
      "laio-team-a-orders": { name: "laio-team-a-orders", description: "", raw: "<fragment />", etag: "2" },
      shared: { name: "shared", description: "", raw: "<fragment><cors /></fragment>", etag: "3" },
    },
  };
  state.apimServices[SVC.toLowerCase()] = svc;
  const record: BindingRecord = {
    ...emptyBindingRecord(owner, LA),
    rbac: [
      {
        id: roleAssignmentId(state.roleAssignments["ours-1"]),
        scope: KV,
        roleDefinitionId: "r",
        principalId: "la-principal",
      },
    ],
    graph: [
      {
        resourceId: "sp-1",
        principalId: "la-principal",
        appRoleId: "role-2",
        assignmentId: "g-ours",
        state: "created",
      },
    ],
  };
  return {
    state,
    records: {
      bindings: [{ namespace: "team-a", name: "orders", record }],
      jwtPolicies: [
        {
          namespace: "team-a",
          name: "orders-jwt",
          record: {
            uid: "uid-p",
            fragments: [{ serviceId: SVC, fragmentId: "laio-team-a-orders" }],
            targets: ["api:orders"],
          },
        },
      ],
      liveBindings: new Set(["team-a/orders"]),
      liveJwtPolicies: new Set(["team-a/orders-jwt"]),
    },
  };
}

function clone(w: World): World {
  return {
    state: structuredClone(w.state),
    records: {
      bindings: structuredClone(w.records.bindings),
      jwtPolicies: structuredClone(w.records.jwtPolicies),
      liveBindings: new Set(w.records.liveBindings),
      liveJwtPolicies: new Set(w.records.liveJwtPolicies),
    },
  };
}

const svcOf = (w: World) => w.state.apimServices[SVC.toLowerCase()]!;
const bindingRecord = (w: World) => w.records.bindings[0]!.record;

describe("ownership invariants", () => {
  it("a sound world has no violations", () => {
    const w = soundWorld();
    expect(findViolations(foreignOf(w), w)).toEqual([]);
  });

  it("the snapshot holds only what is foreign", () => {
    const snap = foreignOf(soundWorld());
    expect(Object.keys(snap.roleAssignments)).toEqual(["foreign-1"]);
    expect(Object.keys(snap.appRoleAssignments)).toEqual(["g-foreign"]);
    expect(Object.keys(snap.fragments)).toEqual([`${SVC.toLowerCase()}|shared`]);
    expect(Object.values(snap.policies)[0]).not.toContain("laio-");
  });

  it("removing or adding the operator's own include and grants is not a foreign change", () => {
    const before = soundWorld();
    const w = clone(before);
    svcOf(w).policies["apis/orders"]!.raw = POLICY.replace(/\s*<include-fragment[^>]*\/>/, "");
    delete svcOf(w).fragments["laio-team-a-orders"];
    w.records.jwtPolicies = [];
    w.records.liveJwtPolicies = new Set();
    expect(findViolations(foreignOf(before), w)).toEqual([]);
  });

  it("inline mode: the operator's marked validate-jwt is its own, a foreign validate-jwt is not", () => {
    const inline = (rule: string) =>
      `<policies><inbound><base />${rule}<validate-jwt header-name="X"><audiences><audience>b</audience></audiences></validate-jwt></inbound></policies>`;
    const ours =
      '\n<!-- laio:ApimJwtPolicy team-a/orders -->\n<validate-jwt header-name="Authorization"><audiences><audience>a</audience></audiences></validate-jwt>';
    const before = soundWorld();
    svcOf(before).policies["apis/inline"] = { raw: inline(ours), etag: "5" };
    const w = clone(before);
    svcOf(w).policies["apis/inline"]!.raw = inline("");
    expect(findViolations(foreignOf(before), w)).toEqual([]);
    svcOf(w).policies["apis/inline"]!.raw = inline(ours).replace("<audience>b</audience>", "");
    expect(findViolations(foreignOf(before), w).join("\n")).toMatch(
      /foreign content of policy .*apis\/inline was changed/,
    );
  });

  const broken: [string, (w: World) => void, RegExp][] = [
    [
      "foreign role assignment deleted",
      (w) => delete w.state.roleAssignments["foreign-1"],
      /foreign role assignment .*foreign-1 was deleted/,
    ],
    [
      "foreign role assignment changed",
      (w) => (w.state.roleAssignments["foreign-1"]!.description = ownershipMarker("x", "y", "z")),
      /foreign role assignment .*foreign-1 was changed/,
    ],
    [
      "foreign app-role assignment deleted",
      (w) => delete w.state.appRoleAssignments["g-foreign"],
      /foreign app-role assignment g-foreign was deleted/,
    ],
    [
      "foreign policy content dropped",
      (w) => (svcOf(w).policies["apis/orders"]!.raw = POLICY.replace(/<rate-limit[^>]*\/>/, "")),
      /foreign content of policy .*apis\/orders was changed/,
    ],
    [
      "policy with foreign content deleted",
      (w) => delete svcOf(w).policies["apis/orders"],
      /policy .* was deleted/,
    ],
    [
      "foreign fragment overwritten",
      (w) => (svcOf(w).fragments.shared!.raw = "<fragment />"),
      /foreign fragment .*shared was changed/,
    ],
    [
      "foreign fragment deleted",
      (w) => delete svcOf(w).fragments.shared,
      /foreign fragment .*shared was deleted/,
    ],
    [
      "operator role assignment in no record",
      (w) => (bindingRecord(w).rbac = []),
      /operator role assignment .*ours-1 .*is in no record/,
    ],
    [
      "operator grant whose object is gone",
      (w) => (w.records.liveBindings = new Set()),
      /names team-a\/orders, which does not exist[\s\S]*record of binding team-a\/orders outlives the binding and still lists grants/,
    ],
    [
      "record lists a deleted role assignment",
      (w) => delete w.state.roleAssignments["ours-1"],
      /lists role assignment .*ours-1, which does not exist/,
    ],
    [
      "record lists a deleted app-role assignment",
      (w) => delete w.state.appRoleAssignments["g-ours"],
      /lists app-role assignment g-ours, which does not exist/,
    ],
    [
      "record's app-role assignment is another grant",
      (w) => (w.state.appRoleAssignments["g-ours"]!.appRoleId = "role-9"),
      /lists app-role assignment g-ours with other/,
    ],
    [
      "unresolved write-ahead intent",
      (w) =>
        bindingRecord(w).graph.push({
          resourceId: "sp-1",
          principalId: "la-principal",
          appRoleId: "role-3",
          state: "intent",
        }),
      /unresolved intent for app role role-3/,
    ],
    [
      "duplicate role assignments",
      (w) => (w.state.roleAssignments["dup"] = ra("dup", { description: "same triple, another name" })),
      /duplicate role assignments .*ours-1 and .*dup/,
    ],
    [
      "duplicate app-role assignments",
      (w) => (w.state.appRoleAssignments["g-dup"] = arA("g-dup", "role-1", "alice")),
      /duplicate app-role assignments g-foreign and g-dup/,
    ],
    [
      "operator fragment in no record",
      (w) =>
        (svcOf(w).fragments["laio-other"] = {
          name: "laio-other",
          description: "",
          raw: "<fragment />",
          etag: "9",
        }),
      /operator fragment .*laio-other is in no record/,
    ],
    [
      "record lists a missing fragment",
      (w) => delete svcOf(w).fragments["laio-team-a-orders"],
      /lists fragment laio-team-a-orders, which does not exist/,
    ],
  ];

  it.each(broken)("fails when: %s", (_name, breakIt, message) => {
    const before = soundWorld();
    const w = clone(before);
    breakIt(w);
    const violations = findViolations(foreignOf(before), w);
    expect(violations.join("\n")).toMatch(message);
  });

  it("before convergence, intents and records not yet written are tolerated; foreign changes never are", () => {
    const before = soundWorld();
    const w = clone(before);
    bindingRecord(w).graph.push({
      resourceId: "sp-1",
      principalId: "la-principal",
      appRoleId: "role-3",
      state: "intent",
    });
    bindingRecord(w).rbac = [];
    expect(findViolations(foreignOf(before), w, { converged: false })).toEqual([]);
    delete w.state.roleAssignments["foreign-1"];
    expect(findViolations(foreignOf(before), w, { converged: false })).toHaveLength(1);
  });
});
