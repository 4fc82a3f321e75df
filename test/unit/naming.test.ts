import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  fragmentId,
  fragmentOwnerMarker,
  legacyFragmentId,
  parseFragmentOwner,
  roleAssignmentName,
  uuidV5,
} from "../../src/azure/naming.ts";

/** apimpolicyfragments.json 2024-05-01, parameter `id` (as in arm-apimanagement 10's parameter mapper). */
const APIM_FRAGMENT_ID = /(^[\w]+$)|(^[\w][\w-]+[\w]$)/;
const UID = "5f0c6d2e-8b1a-4c3d-9e7f-0a1b2c3d4e5f";

describe("deterministic names", () => {
  it("uuidV5 matches the RFC 9562 test vector", () => {
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });

  it("role assignment names depend on scope, role and principal, not on case", () => {
    const scope = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg";
    const role = "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7";
    const a = roleAssignmentName(scope, role, "11111111-1111-1111-1111-111111111111");
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(roleAssignmentName(scope.toUpperCase(), role, "11111111-1111-1111-1111-111111111111")).toBe(a);
    // A recreated identity gets a new name, so Azure never answers RoleAssignmentUpdateNotPermitted.
    expect(roleAssignmentName(scope, role, "22222222-2222-2222-2222-222222222222")).not.toBe(a);
  });

  it("legacy fragment IDs (kept for migration) are what versions before issue 11 wrote", () => {
    expect(legacyFragmentId("team-orders", "orders-api-jwt")).toBe("laio-team-orders-orders-api-jwt");
    const long = legacyFragmentId("n".repeat(63), "x".repeat(200));
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(/^[A-Za-z0-9-]+$/);
    expect(legacyFragmentId("n".repeat(63), "y".repeat(200))).not.toBe(long);
    // The ambiguity that issue 11 is about.
    expect(legacyFragmentId("team-a", "orders")).toBe(legacyFragmentId("team", "a-orders"));
    expect(legacyFragmentId("team", "a.orders")).toBe(legacyFragmentId("team", "a-orders"));
  });

  it("fragment IDs of team-a/orders, team/a-orders and team/a.orders are three different IDs", () => {
    const ids = [
      fragmentId("team-a", "orders", UID),
      fragmentId("team", "a-orders", UID),
      fragmentId("team", "a.orders", UID),
    ];
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^laio-team-a-orders-[0-9a-f]{16}$/);
  });

  it("fragment IDs depend on the UID: a recreated object does not inherit its predecessor's fragment", () => {
    const other = "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b";
    expect(fragmentId("team", "orders", UID)).not.toBe(fragmentId("team", "orders", other));
    expect(fragmentId("team", "orders", UID)).toBe(fragmentId("team", "orders", UID));
  });

  it("fragment IDs are valid APIM identifiers of at most 80 characters for any Kubernetes namespace and name", () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    const subdomain = fc.array(label, { minLength: 1, maxLength: 5 }).map(
      (xs) =>
        xs
          .join(".")
          .slice(0, 253)
          .replace(/[.-]+$/, "") || "a",
    );
    fc.assert(
      fc.property(label, subdomain, fc.uuid(), (ns, name, uid) => {
        const id = fragmentId(ns, name, uid);
        expect(id.length).toBeLessThanOrEqual(80);
        expect(id).toMatch(APIM_FRAGMENT_ID);
        expect(id.startsWith("laio-")).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(fragmentId("n".repeat(63), "x".repeat(253), UID)).toMatch(APIM_FRAGMENT_ID);
    expect(fragmentId("n".repeat(63), "x".repeat(253), UID).length).toBe(80);
  });

  it("distinct (namespace, name, uid) triples never share a fragment ID (no two characters map to one)", () => {
    const part = fc.stringMatching(/^[a-z0-9][-a-z0-9.]{0,6}$/);
    fc.assert(
      fc.property(part, part, part, part, (ns1, n1, ns2, n2) => {
        fc.pre(ns1 !== ns2 || n1 !== n2);
        expect(fragmentId(ns1, n1, UID)).not.toBe(fragmentId(ns2, n2, UID));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("fragment owner marker", () => {
  it("round-trips namespace, name and UID", () => {
    const d = fragmentOwnerMarker("team-a", "orders.v2", UID);
    expect(d).toBe(`managed-by=logicapp-identity-operator; owner=team-a/orders.v2; uid=${UID}`);
    expect(parseFragmentOwner(d)).toEqual({ namespace: "team-a", name: "orders.v2", uid: UID });
  });

  it("ignores unknown fields and surrounding spaces, so later versions may add some", () => {
    expect(
      parseFragmentOwner(` managed-by=logicapp-identity-operator ;uid=${UID}; owner=ns/n ; note=x `),
    ).toEqual({ namespace: "ns", name: "n", uid: UID });
  });

  it.each([
    ["no description", undefined],
    ["empty", ""],
    ["someone else's fragment", "Shared CORS rules"],
    ["another manager", `managed-by=someone-else; owner=ns/n; uid=${UID}`],
    ["no uid", "managed-by=logicapp-identity-operator; owner=ns/n"],
    ["empty uid", "managed-by=logicapp-identity-operator; owner=ns/n; uid="],
    ["no owner", `managed-by=logicapp-identity-operator; uid=${UID}`],
    ["owner without namespace", `managed-by=logicapp-identity-operator; owner=n; uid=${UID}`],
    ["invalid namespace", `managed-by=logicapp-identity-operator; owner=Team_A/n; uid=${UID}`],
    ["owner with two slashes", `managed-by=logicapp-identity-operator; owner=a/b/c; uid=${UID}`],
    ["repeated owner", `managed-by=logicapp-identity-operator; owner=a/b; owner=c/d; uid=${UID}`],
    ["field without =", `managed-by=logicapp-identity-operator; owner=a/b; uid=${UID}; junk`],
    ["the RBAC marker", `managed-by=logicapp-identity-operator; binding=ns/n; uid=${UID}`],
  ])("%s is not an owner", (_what, description) => {
    expect(parseFragmentOwner(description)).toBeUndefined();
  });
});
