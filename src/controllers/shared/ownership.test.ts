import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ownershipMarker } from "../../azure/naming.ts";
import {
  canonicalLogicAppId,
  decideClaim,
  emptyBindingRecord,
  identityTurnedOnByUs,
  ownsAppRoleAssignment,
  ownsRoleAssignment,
  parseBindingRecord,
  parseClaimRecord,
  parseJwtPolicyRecord,
  parseOwnershipMarker,
  resolveGraphIntents,
  takeOverRecord,
  withGraphCreated,
  withGraphIntent,
  withIdentityEnabled,
  withoutGraph,
  withoutRbac,
  withRbac,
  type BindingRecord,
  type ClaimCandidate,
} from "./ownership.ts";

const LA = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders";
const self = { namespace: "team-a", name: "orders", uid: "uid-1" };
const RA_ID = "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/ra-1";

function record(patch: Partial<BindingRecord> = {}): BindingRecord {
  return { ...emptyBindingRecord(self, LA), ...patch };
}

describe("parseOwnershipMarker", () => {
  it("reads back exactly what ownershipMarker writes", () => {
    expect(parseOwnershipMarker(ownershipMarker("team-a", "orders.v2", "0f5b-77"))).toEqual({
      namespace: "team-a",
      name: "orders.v2",
      uid: "0f5b-77",
    });
  });

  it.each([
    ["no description", undefined],
    ["empty", ""],
    ["a person's note", "granted by alice for the audit"],
    ["a marker with text appended", `${ownershipMarker("a", "b", "u")}; extra`],
    ["another operator's marker", "managed-by=someone-else; binding=a/b; uid=u"],
    ["no uid", "managed-by=logicapp-identity-operator; binding=a/b"],
  ])("no marker: %s", (_n, text) => {
    expect(parseOwnershipMarker(text)).toBeUndefined();
  });
});

describe("ownsRoleAssignment", () => {
  const live = (description: string | undefined) => ({ id: RA_ID, description });

  it("ours when the marker names this object's UID, even with no record (crash before the record write)", () => {
    expect(ownsRoleAssignment(undefined, self, live(ownershipMarker("team-a", "orders", "uid-1")))).toBe(
      true,
    );
  });

  it("never ours when the marker names another object, even if a (forged or stale) record lists the ID", () => {
    const rec = record({ rbac: [{ id: RA_ID, scope: "/s", roleDefinitionId: "r", principalId: "p" }] });
    expect(ownsRoleAssignment(rec, self, live(ownershipMarker("intruder", "orders", "uid-1")))).toBe(false);
    expect(ownsRoleAssignment(rec, self, live(ownershipMarker("team-a", "billing", "uid-9")))).toBe(false);
  });

  it("never ours without a marker, even if the record lists the ID", () => {
    const rec = record({ rbac: [{ id: RA_ID, scope: "/s", roleDefinitionId: "r", principalId: "p" }] });
    expect(ownsRoleAssignment(rec, self, live(undefined))).toBe(false);
    expect(ownsRoleAssignment(rec, self, live("hand-made Owner"))).toBe(false);
  });

  it("a restored object (new UID) owns its predecessor's assignment only when the record lists it", () => {
    const restored = { ...self, uid: "uid-2" };
    const old = live(ownershipMarker("team-a", "orders", "uid-1"));
    expect(ownsRoleAssignment(record(), restored, old)).toBe(false);
    const rec = record({
      rbac: [{ id: RA_ID.toUpperCase(), scope: "/s", roleDefinitionId: "r", principalId: "p" }],
    });
    expect(ownsRoleAssignment(rec, restored, old)).toBe(true);
  });
});

describe("ownsAppRoleAssignment", () => {
  const live = { id: "asg-1", resourceId: "sp-1", principalId: "p-1", appRoleId: "role-1" };

  it("ours only when the record lists its ID", () => {
    const created = record({
      graph: [
        {
          resourceId: "SP-1",
          principalId: "p-1",
          appRoleId: "role-1",
          assignmentId: "asg-1",
          state: "created",
        },
      ],
    });
    expect(ownsAppRoleAssignment(created, live)).toBe(true);
    expect(ownsAppRoleAssignment(created, { ...live, id: "asg-other" })).toBe(false);
    expect(ownsAppRoleAssignment(undefined, live)).toBe(false);
    expect(ownsAppRoleAssignment(record(), live)).toBe(false);
  });

  it("an unresolved intent owns exactly its (resource, principal, app role)", () => {
    const intent = record({
      graph: [{ resourceId: "sp-1", principalId: "p-1", appRoleId: "role-1", state: "intent" }],
    });
    expect(ownsAppRoleAssignment(intent, live)).toBe(true);
    expect(ownsAppRoleAssignment(intent, { ...live, principalId: "p-2" })).toBe(false);
    expect(ownsAppRoleAssignment(intent, { ...live, appRoleId: "role-2" })).toBe(false);
  });
});

describe("resolveGraphIntents", () => {
  const intent = { resourceId: "SP-1", principalId: "p-1", appRoleId: "role-1", state: "intent" as const };

  it("an intent whose create happened before a crash becomes created with Graph's ID", () => {
    const r = resolveGraphIntents(
      record({ graph: [intent] }),
      [{ id: "asg-9", resourceId: "sp-1", principalId: "P-1", appRoleId: "role-1" }],
      new Set(["sp-1"]),
    );
    expect(r.changed).toBe(true);
    expect(r.record.graph).toEqual([{ ...intent, assignmentId: "asg-9", state: "created" }]);
  });

  it("an intent whose create never happened is dropped; intents on unobserved resources stay", () => {
    const other = { ...intent, resourceId: "sp-2" };
    const r = resolveGraphIntents(record({ graph: [intent, other] }), [], new Set(["sp-1"]));
    expect(r.record.graph).toEqual([other]);
    expect(resolveGraphIntents(record({ graph: [other] }), [], new Set(["sp-1"])).changed).toBe(false);
  });
});

describe("identityTurnedOnByUs", () => {
  it("only from the record, and only for a principal the operator saw", () => {
    expect(identityTurnedOnByUs(undefined)).toBe(false);
    expect(identityTurnedOnByUs(record())).toBe(false);
    const on = record({
      identity: { enabledByOperator: true, systemPrincipalIds: ["p-1"], attachedUserAssignedIds: [] },
    });
    expect(identityTurnedOnByUs(on)).toBe(true);
    expect(identityTurnedOnByUs(on, "P-1")).toBe(true);
    expect(identityTurnedOnByUs(on, "p-someone-re-enabled")).toBe(false);
  });
});

describe("record edits", () => {
  const t = { resourceId: "sp-1", principalId: "p-1", appRoleId: "role-1" };

  it("write-ahead: intent, then created with Graph's ID, then gone after a revoke", () => {
    const intent = withGraphIntent(record(), t);
    expect(intent.graph).toEqual([{ ...t, state: "intent" }]);
    expect(withGraphIntent(intent, { ...t, resourceId: "SP-1" })).toBe(intent);
    const created = withGraphCreated(intent, t, "asg-1");
    expect(created.graph).toEqual([{ ...t, assignmentId: "asg-1", state: "created" }]);
    expect(ownsAppRoleAssignment(created, { id: "asg-1", ...t })).toBe(true);
    expect(withoutGraph(created, "ASG-1").graph).toEqual([]);
  });

  it("RBAC entries are added once and removed by ID; enabling records each principal once", () => {
    const e = { id: RA_ID, scope: "/s", roleDefinitionId: "r", principalId: "p" };
    const one = withRbac(record(), e);
    expect(withRbac(one, { ...e, id: RA_ID.toUpperCase() })).toBe(one);
    expect(withoutRbac(one, RA_ID.toUpperCase()).rbac).toEqual([]);
    const on = withIdentityEnabled(withIdentityEnabled(record(), "P-1"), "p-1");
    expect(on.identity).toMatchObject({ enabledByOperator: true, systemPrincipalIds: ["p-1"] });
    expect(identityTurnedOnByUs(on, "P-1")).toBe(true);
  });
});

describe("takeOverRecord", () => {
  it("keeps every grant and only changes the UID", () => {
    const rec = record({ rbac: [{ id: RA_ID, scope: "/s", roleDefinitionId: "r", principalId: "p" }] });
    const taken = takeOverRecord(rec, { ...self, uid: "uid-2" });
    expect(taken).toEqual({ ...rec, uid: "uid-2" });
    expect(takeOverRecord(rec, self)).toBe(rec);
  });
});

describe("decideClaim", () => {
  const b = (
    name: string,
    created: string,
    uid = `uid-${name}`,
    extra: Partial<ClaimCandidate> = {},
  ): ClaimCandidate => ({
    namespace: "ns",
    name,
    uid,
    creationTimestamp: created,
    logicAppId: LA,
    ...extra,
  });
  const older = b("older", "2026-01-01T00:00:00Z");
  const younger = b("younger", "2026-02-01T00:00:00Z");
  const claimOf = (c: ClaimCandidate) => ({
    logicAppId: canonicalLogicAppId(LA),
    namespace: c.namespace,
    name: c.name,
    uid: c.uid,
  });

  it("no claim: the oldest binding for the Logic App creates it; the others name it as holder", () => {
    expect(decideClaim({ self: older, bindingsInCache: [older, younger], claim: undefined })).toEqual({
      owner: true,
      write: "create",
    });
    expect(decideClaim({ self: younger, bindingsInCache: [older, younger], claim: undefined })).toEqual({
      owner: false,
      holder: "ns/older",
    });
  });

  it("the Logic App ID is compared canonically; other Logic Apps and deleting bindings do not compete", () => {
    const upper = b("upper", "2025-01-01T00:00:00Z", "u", { logicAppId: LA.toUpperCase() + "/" });
    expect(decideClaim({ self: younger, bindingsInCache: [upper, younger], claim: undefined })).toEqual({
      owner: false,
      holder: "ns/upper",
    });
    const elsewhere = b("elsewhere", "2025-01-01T00:00:00Z", "e", { logicAppId: `${LA}-2` });
    const deleting = b("deleting", "2025-01-01T00:00:00Z", "d", { deleting: true });
    expect(
      decideClaim({ self: younger, bindingsInCache: [elsewhere, deleting, younger], claim: undefined }),
    ).toEqual({
      owner: true,
      write: "create",
    });
  });

  it("equal creation times: the smaller UID wins, from either side", () => {
    const x = b("x", "2026-01-01T00:00:00Z", "aaa");
    const y = b("y", "2026-01-01T00:00:00Z", "bbb");
    expect(decideClaim({ self: x, bindingsInCache: [y, x], claim: undefined }).owner).toBe(true);
    expect(decideClaim({ self: y, bindingsInCache: [x, y], claim: undefined })).toEqual({
      owner: false,
      holder: "ns/x",
    });
  });

  it("first come: a claim whose holder exists wins even against an older binding", () => {
    expect(decideClaim({ self: older, bindingsInCache: [older, younger], claim: claimOf(younger) })).toEqual({
      owner: false,
      holder: "ns/younger",
    });
    expect(
      decideClaim({ self: younger, bindingsInCache: [older, younger], claim: claimOf(younger) }),
    ).toEqual({
      owner: true,
      write: "none",
    });
  });

  it("a holder being deleted still holds (it releases after its cleanup)", () => {
    const leaving = { ...younger, deleting: true };
    expect(decideClaim({ self: older, bindingsInCache: [older, leaving], claim: claimOf(younger) })).toEqual({
      owner: false,
      holder: "ns/younger",
    });
  });

  it("a claim whose holder is gone is taken over by the oldest remaining binding", () => {
    const gone = b("gone", "2025-01-01T00:00:00Z");
    expect(decideClaim({ self: younger, bindingsInCache: [older, younger], claim: claimOf(gone) })).toEqual({
      owner: false,
      holder: "ns/older",
    });
    expect(decideClaim({ self: older, bindingsInCache: [older, younger], claim: claimOf(gone) })).toEqual({
      owner: true,
      write: "takeover",
    });
  });

  it("the same namespace/name with a new UID (restored from backup) takes its own claim over", () => {
    const restored = { ...older, uid: "uid-new" };
    expect(decideClaim({ self: restored, bindingsInCache: [restored], claim: claimOf(older) })).toEqual({
      owner: true,
      write: "takeover",
    });
  });
});

describe("decideClaim, for any set of bindings", () => {
  const candidate = fc.record({
    namespace: fc.constantFrom("a", "b"),
    name: fc.constantFrom("x", "y", "z"),
    uid: fc.uuid(),
    creationTimestamp: fc.constantFrom(
      "2026-01-01T00:00:00Z",
      "2026-01-01T00:00:01Z",
      "2026-02-01T00:00:00Z",
    ),
    logicAppId: fc.constantFrom(LA, LA.toUpperCase(), `${LA}-other`),
    deleting: fc.boolean(),
  });
  const uniqueByKey = (cs: ClaimCandidate[]) => [
    ...new Map(cs.map((c) => [`${c.namespace}/${c.name}`, c])).values(),
  ];

  it("with no claim, exactly one live binding for the Logic App is owner, every other names it, in any cache order", () => {
    fc.assert(
      fc.property(
        fc.array(candidate, { minLength: 1, maxLength: 6 }).map(uniqueByKey),
        fc.boolean(),
        (all, reverse) => {
          const cache = reverse ? [...all].reverse() : all;
          const competing = all.filter(
            (c) => !c.deleting && canonicalLogicAppId(c.logicAppId) === canonicalLogicAppId(LA),
          );
          const decisions = competing.map((self) =>
            decideClaim({ self, bindingsInCache: cache, claim: undefined }),
          );
          if (competing.length === 0) return;
          const owners = competing.filter((_, i) => decisions[i]!.owner);
          expect(owners).toHaveLength(1);
          const winner = `${owners[0]!.namespace}/${owners[0]!.name}`;
          for (const d of decisions) if (!d.owner) expect(d.holder).toBe(winner);
        },
      ),
    );
  });

  it("with a claim whose holder is in the cache, only the holder is owner", () => {
    fc.assert(
      fc.property(
        fc.array(candidate, { minLength: 1, maxLength: 6 }).map(uniqueByKey),
        fc.nat(),
        (all, pick) => {
          const holder = all[pick % all.length]!;
          const claim = {
            logicAppId: canonicalLogicAppId(LA),
            namespace: holder.namespace,
            name: holder.name,
            uid: holder.uid,
          };
          for (const self of all) {
            const d = decideClaim({ self, bindingsInCache: all, claim });
            expect(d.owner).toBe(self === holder);
            if (!d.owner) expect(d.holder).toBe(`${holder.namespace}/${holder.name}`);
          }
        },
      ),
    );
  });
});

describe("record payloads", () => {
  it("round-trip and refuse malformed ones", () => {
    const rec = record({
      graph: [{ resourceId: "sp", principalId: "p", appRoleId: "r", assignmentId: "a", state: "created" }],
      rbac: [{ id: RA_ID, scope: "/s", roleDefinitionId: "r", principalId: "p" }],
    });
    expect(parseBindingRecord(JSON.parse(JSON.stringify(rec)))).toEqual(rec);
    expect(() => parseBindingRecord({ ...rec, graph: [{ ...rec.graph[0], state: "done" }] })).toThrow(
      /state/,
    );
    expect(() =>
      parseBindingRecord({ ...rec, graph: [{ ...rec.graph[0], assignmentId: undefined }] }),
    ).toThrow(/no assignmentId/);
    expect(() => parseBindingRecord({ ...rec, identity: { enabledByOperator: "yes" } })).toThrow(/boolean/);
    // Connection access policies (issue 14) survive the round trip: they are what proves a policy ours.
    const withConns = {
      ...rec,
      connectionPolicies: [{ connectionId: "/c", name: "laio-p", principalId: "p" }],
    };
    expect(parseBindingRecord(JSON.parse(JSON.stringify(withConns)))).toEqual(withConns);
    expect(() => parseBindingRecord({ ...withConns, connectionPolicies: [{ connectionId: "/c" }] })).toThrow(
      /connectionPolicies\[0\]\.name/,
    );
    const pol = { uid: "u", fragments: [{ serviceId: "s", fragmentId: "f" }], targets: ["api:orders"] };
    expect(parseJwtPolicyRecord(pol)).toEqual(pol);
    expect(() => parseJwtPolicyRecord({ ...pol, targets: [1] })).toThrow(/targets\[0\]/);
    expect(() => parseClaimRecord({ namespace: "a" })).toThrow(/claim/);
  });
});
