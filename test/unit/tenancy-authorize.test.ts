import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isWithin } from "../../src/api/v1alpha1/arm-id.ts";
import type { AzureAccessPolicy } from "../../src/api/v1alpha1/access-policy.ts";
import {
  RG_A,
  RG_B,
  TEAM_B_LABELS,
  API_REGISTRATION_CASES,
  TENANCY_CASES,
  tenancyPolicies,
  type Team,
} from "../support/tenancy-cases.ts";
import {
  authorize,
  authorizeAll,
  roleEntryGuid,
  selectsNamespace,
  type AccessRequest,
} from "../../src/controllers/tenancy/authorize.ts";
import {
  actionMatches,
  canGrantAccess,
  isBroad,
  PRIVILEGED_ROLE_GUIDS,
  ROLE,
} from "../../src/controllers/tenancy/builtins.ts";

const NS = { a: "team-a", b: "team-b", none: "team-z" } as const;
const LABELS: Record<Team, Record<string, string>> = {
  a: {},
  b: TEAM_B_LABELS,
  none: { "example.com/team": "z" },
};
const policies = tenancyPolicies(NS);
const input = (team: Team, extra: Partial<Parameters<typeof authorize>[0]> = {}) => ({
  policies,
  namespace: { name: NS[team], labels: LABELS[team] },
  ...extra,
});

describe("the shared tenancy table, against the matcher", () => {
  it("has at least 40 cases, allowed and denied, with unique names", () => {
    expect(TENANCY_CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(TENANCY_CASES.map((c) => c.name)).size).toBe(TENANCY_CASES.length);
    expect(TENANCY_CASES.filter((c) => c.verdict === true).length).toBeGreaterThan(10);
  });

  it.each(TENANCY_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const v = authorize(input(c.team), c.request);
    if (c.verdict === true) {
      expect(v, JSON.stringify(v)).toMatchObject({ allowed: true });
    } else {
      expect(v).toMatchObject({ allowed: false, reason: c.verdict });
      if (!v.allowed) {
        expect(v.message).toContain(`namespace "${NS[c.team]}"`);
        if (c.verdict !== "InvalidArmId" && c.verdict !== "RoleNotResolved")
          expect(v.message).toContain("AzureAccessPolicy");
        expect(v.rule).toMatch(/^(spec\.|builtin:)/);
      }
    }
    // Admission never allows less than the matcher, except IDs the schema refuses as non-canonical.
    if (c.verdict === true) expect(c.admission).toBe(true);
  });
});

describe("matcher rules", () => {
  const readerAtA: AccessRequest = { kind: "grantRole", scope: RG_A, roleDefinitionGuid: ROLE.reader };

  it("fails closed with no policies at all, and allows everything in permissive mode", () => {
    expect(authorize({ policies: [], namespace: { name: "x" } }, readerAtA)).toMatchObject({
      allowed: false,
      reason: "NoAccessPolicy",
      rule: "builtin:fail-closed",
    });
    expect(authorize({ policies: [], namespace: { name: "x" }, mode: "permissive" }, readerAtA)).toEqual({
      allowed: true,
      policies: [],
    });
  });

  it("ignores a policy being deleted", () => {
    const deleting = policies.map((p) => ({
      ...p,
      metadata: { ...p.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" },
    }));
    expect(authorize({ ...input("a"), policies: deleting }, readerAtA)).toMatchObject({
      reason: "NoAccessPolicy",
    });
  });

  it("takes the union over selecting policies, but one policy must allow scope and role together", () => {
    const scopeOnly: AzureAccessPolicy = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "AzureAccessPolicy",
      metadata: { name: "scope-only" },
      spec: { namespaces: { names: ["n"] }, scopes: [RG_B] },
    };
    const roleOnly: AzureAccessPolicy = {
      ...scopeOnly,
      metadata: { name: "role-only" },
      spec: { namespaces: { names: ["n"] }, scopes: [RG_A], roles: ["Reader"] },
    };
    const both = { policies: [scopeOnly, roleOnly], namespace: { name: "n" } };
    expect(authorize(both, readerAtA)).toEqual({ allowed: true, policies: ["role-only"] });
    expect(authorize(both, { ...readerAtA, scope: RG_B })).toMatchObject({
      allowed: false,
      reason: "NotAllowed",
      rule: "spec.roles",
    });
  });

  it("refuses a resource group when maxScopeBreadth is resource", () => {
    const p: AzureAccessPolicy = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "AzureAccessPolicy",
      metadata: { name: "narrow" },
      spec: { namespaces: { names: ["n"] }, scopes: [RG_A], roles: ["Reader"], maxScopeBreadth: "resource" },
    };
    expect(authorize({ policies: [p], namespace: { name: "n" } }, readerAtA)).toMatchObject({
      reason: "ScopeTooBroad",
      rule: "spec.maxScopeBreadth",
    });
    expect(
      authorize(
        { policies: [p], namespace: { name: "n" } },
        { ...readerAtA, scope: `${RG_A}/providers/Microsoft.Web/sites/x` },
      ),
    ).toMatchObject({ allowed: true });
  });

  it("needs the permissions of a role it does not know, and resolves policy role names it is given", () => {
    const custom: AccessRequest = {
      kind: "grantRole",
      scope: RG_A,
      roleDefinitionGuid: "66666666-6666-6666-6666-666666666666",
    };
    expect(authorize(input("a"), custom)).toMatchObject({ reason: "RoleNotResolved" });
    const p: AzureAccessPolicy = {
      ...policies[0]!,
      spec: { ...policies[0]!.spec, roles: ["Orders Reader"] },
    };
    const withPerms = { ...custom, permissions: [{ actions: ["Microsoft.Web/sites/read"] }] };
    expect(authorize({ ...input("a"), policies: [p] }, withPerms)).toMatchObject({ reason: "NotAllowed" });
    expect(
      authorize(
        {
          ...input("a"),
          policies: [p],
          roleNameGuids: new Map([["orders reader", "66666666-6666-6666-6666-666666666666"]]),
        },
        withPerms,
      ),
    ).toMatchObject({ allowed: true });
  });

  it("a privileged GUID lifts Contributor at subscription scope only where the policy's scopes allow it", () => {
    const p: AzureAccessPolicy = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "AzureAccessPolicy",
      metadata: { name: "platform" },
      spec: {
        namespaces: { names: ["n"] },
        scopes: [RG_A.split("/resourceGroups")[0]!],
        maxScopeBreadth: "subscription",
        privilegedRoles: [ROLE.contributor],
      },
    };
    const sub = RG_A.split("/resourceGroups")[0]!;
    expect(
      authorize(
        { policies: [p], namespace: { name: "n" } },
        { kind: "grantRole", scope: sub, roleDefinitionGuid: ROLE.contributor },
      ),
    ).toMatchObject({ allowed: true });
    expect(
      authorize(
        { policies: [p], namespace: { name: "n" } },
        { kind: "grantRole", scope: sub, roleDefinitionGuid: ROLE.owner },
      ),
    ).toMatchObject({ reason: "PrivilegedRole" });
    expect(
      authorize(
        { policies: [p], namespace: { name: "n" } },
        {
          kind: "grantRole",
          scope: "/providers/Microsoft.Management/managementGroups/root",
          roleDefinitionGuid: ROLE.reader,
        },
      ),
    ).toMatchObject({ reason: "ScopeTooBroad", rule: "builtin:management-group" });
  });

  it("authorizeAll keeps the order of the requests", () => {
    const v = authorizeAll(input("a"), [
      readerAtA,
      { kind: "bindLogicApp", logicAppId: `${RG_B}/providers/Microsoft.Logic/workflows/x` },
    ]);
    expect(v.map((x) => x.allowed)).toEqual([true, false]);
  });
});

describe("namespace selection", () => {
  const ns = { name: "n", labels: { tier: "prod", team: "x" } };
  it.each([
    [{ names: ["n"] }, true],
    [{ names: ["m"] }, false],
    [{ selector: {} }, true],
    [{ selector: { matchLabels: { team: "x" } } }, true],
    [{ selector: { matchLabels: { team: "y" } } }, false],
    [
      { selector: { matchExpressions: [{ key: "tier", operator: "In" as const, values: ["prod", "dev"] }] } },
      true,
    ],
    [
      { selector: { matchExpressions: [{ key: "tier", operator: "NotIn" as const, values: ["prod"] }] } },
      false,
    ],
    [{ selector: { matchExpressions: [{ key: "tier", operator: "Exists" as const }] } }, true],
    [{ selector: { matchExpressions: [{ key: "tier", operator: "DoesNotExist" as const }] } }, false],
    [{ names: ["m"], selector: { matchLabels: { team: "x" } } }, true],
  ])("%j → %s", (sel, expected) => {
    expect(selectsNamespace(sel, ns)).toBe(expected);
  });
});

describe("role facts", () => {
  it("resolves policy role entries to GUIDs", () => {
    expect(roleEntryGuid("Owner")).toBe(ROLE.owner);
    expect(roleEntryGuid("key vault secrets user")).toBe(ROLE.keyVaultSecretsUser);
    expect(roleEntryGuid(ROLE.reader.toUpperCase())).toBe(ROLE.reader);
    expect(roleEntryGuid(`/providers/Microsoft.Authorization/roleDefinitions/${ROLE.reader}`)).toBe(
      ROLE.reader,
    );
    expect(roleEntryGuid("Unknown Role")).toBeUndefined();
  });
  it("tells privileged and broad permissions apart, with notActions", () => {
    const contributor = [
      {
        actions: ["*"],
        notActions: [
          "Microsoft.Authorization/*/Delete",
          "Microsoft.Authorization/*/Write",
          "Microsoft.Authorization/elevateAccess/Action",
        ],
      },
    ];
    expect(canGrantAccess(contributor)).toBe(false);
    expect(isBroad(contributor)).toBe(true);
    expect(canGrantAccess([{ actions: ["*"] }])).toBe(true);
    expect(canGrantAccess([{ actions: ["Microsoft.Authorization/roleAssignments/*"] }])).toBe(true);
    expect(canGrantAccess([{ actions: ["Microsoft.Authorization/*/read"] }])).toBe(false);
    expect(actionMatches("Microsoft.Web/*", "microsoft.web/sites/read")).toBe(true);
    expect(actionMatches("Microsoft.Web/sites/read", "Microsoft.Web/sitesXread")).toBe(false);
  });
});

describe("the example policy", () => {
  it("allows exactly the seed scenario's requests, and refuses its neighbours", async () => {
    const { readFileSync } = await import("node:fs");
    const { parse } = await import("yaml");
    const policy = parse(
      readFileSync(new URL("../../examples/access-policy-team-orders.yaml", import.meta.url), "utf8"),
    ) as AzureAccessPolicy;
    const rg = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-orders";
    const ctx = { policies: [policy], namespace: { name: "team-orders" } };
    const ok: AccessRequest[] = [
      { kind: "bindLogicApp", logicAppId: `${rg}/providers/Microsoft.Logic/workflows/orders-workflow` },
      { kind: "enableIdentity", logicAppId: `${rg}/providers/Microsoft.Logic/workflows/orders-workflow` },
      {
        kind: "grantRole",
        scope: `${rg}/providers/Microsoft.KeyVault/vaults/kv-orders`,
        roleDefinitionGuid: ROLE.keyVaultSecretsUser,
      },
      {
        kind: "grantAppRole",
        api: "api://orders",
        appId: "99999999-0000-0000-0000-000000000001",
        servicePrincipalId: "sp",
        identifierUris: ["api://orders"],
        value: "AddRole",
      },
      {
        kind: "apimRule",
        serviceId: `${rg}/providers/Microsoft.ApiManagement/service/apim-orders`,
        target: { kind: "Api", apiId: "orders-api" },
      },
    ];
    expect(authorizeAll(ctx, ok).every((v) => v.allowed)).toBe(true);
    const no: AccessRequest[] = [
      {
        kind: "grantRole",
        scope: rg.replace("rg-orders", "rg-orders2"),
        roleDefinitionGuid: ROLE.keyVaultSecretsUser,
      },
      { kind: "grantRole", scope: rg, roleDefinitionGuid: ROLE.contributor },
      {
        kind: "apimRule",
        serviceId: `${rg}/providers/Microsoft.ApiManagement/service/apim-orders`,
        target: { kind: "Global" },
      },
    ];
    expect(authorizeAll(ctx, no).map((v) => v.allowed)).toEqual([false, false, false]);
    expect(authorize({ ...ctx, namespace: { name: "team-payments" } }, ok[0]!)).toMatchObject({
      reason: "NoAccessPolicy",
    });
  });
});

describe("matcher properties", () => {
  const SUBX = "/subscriptions/00000000-0000-0000-0000-0000000000a1";
  const scopeArb = fc.constantFrom(
    SUBX,
    `${SUBX}/resourceGroups/rg-a`,
    `${SUBX}/resourceGroups/rg-ab`,
    `${SUBX}/resourceGroups/rg-a/providers/Microsoft.KeyVault/vaults/kv`,
    "/providers/Microsoft.Management/managementGroups/root",
  );
  const guidArb = fc.constantFrom(...Object.values(ROLE));
  const policyArb = fc.record({
    selects: fc.boolean(),
    scopes: fc.array(scopeArb, { maxLength: 3 }),
    roles: fc.array(guidArb, { maxLength: 4 }),
    privilegedRoles: fc.array(guidArb, { maxLength: 2 }),
    maxScopeBreadth: fc.constantFrom("resource" as const, "resourceGroup" as const, "subscription" as const),
  });
  type PolicyShape = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;
  const toPolicy = (p: PolicyShape, i: number): AzureAccessPolicy => ({
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "AzureAccessPolicy",
    metadata: { name: `p${i}` },
    spec: {
      namespaces: { names: [p.selects ? "n" : "other"] },
      scopes: p.scopes,
      roles: p.roles,
      privilegedRoles: p.privilegedRoles,
      maxScopeBreadth: p.maxScopeBreadth,
    },
  });

  it("an allowed grant is always backed by one selecting policy that lists the role and contains the scope", () => {
    let allowedSeen = 0;
    fc.assert(
      fc.property(fc.array(policyArb, { maxLength: 4 }), scopeArb, guidArb, (ps, scope, guid) => {
        const policies = ps.map(toPolicy);
        const v = authorize(
          { policies, namespace: { name: "n" } },
          { kind: "grantRole", scope, roleDefinitionGuid: guid },
        );
        if (!v.allowed) return;
        allowedSeen++;
        expect(v.policies.length).toBeGreaterThan(0);
        for (const name of v.policies) {
          const p = policies.find((x) => x.metadata.name === name)!;
          expect(p.spec.namespaces.names).toEqual(["n"]);
          expect(p.spec.scopes!.some((s) => isWithin(scope, s))).toBe(true);
          expect([...p.spec.roles!, ...p.spec.privilegedRoles!]).toContain(guid);
          // Privileged roles, and Contributor or wider at subscription scope, only through privilegedRoles.
          if (PRIVILEGED_ROLE_GUIDS.has(guid) || (guid === ROLE.contributor && scope === SUBX))
            expect(p.spec.privilegedRoles).toContain(guid);
        }
        expect(scope.startsWith("/providers/")).toBe(false);
      }),
      { numRuns: 2000 },
    );
    // The property must not hold only vacuously.
    expect(allowedSeen).toBeGreaterThan(50);
  });
});

describe("ApiRegistration identifier URIs, against the matcher", () => {
  it.each(API_REGISTRATION_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const v = authorize(input(c.team), { kind: "declareApiRegistration", identifierUri: c.uri });
    if (c.verdict === true) expect(v, JSON.stringify(v)).toMatchObject({ allowed: true });
    else {
      expect(v).toMatchObject({ allowed: false, reason: c.verdict });
      if (!v.allowed) {
        expect(v.message).toContain(`namespace "${NS[c.team]}"`);
        expect(v.message).toContain(c.uri);
      }
    }
  });
});
