/**
 * One table of tenancy cases, checked three ways: by the matcher (unit), by the ValidatingAdmissionPolicy on the
 * real API server (test/cluster/tenancy-admission.test.ts), and — for the lead — by the reconcilers against the
 * emulator. Each case is an object that is valid except for one facet, the resolved request that facet becomes,
 * and what admission and the matcher must say. Admission may allow what the matcher denies (it cannot resolve
 * role names or read service principals, nor see that no policy selects a namespace); never the reverse, except
 * where the CRD schema refuses an ID the matcher would call InvalidArmId.
 */
import type { AzureAccessPolicy } from "../../src/api/v1alpha1/access-policy.ts";
import type { BindingSpec } from "../../src/api/v1alpha1/binding.ts";
import type { JwtPolicySpec } from "../../src/api/v1alpha1/jwt-policy.ts";
import { GRAPH_APP_ID, ROLE } from "../../src/controllers/tenancy/builtins.ts";
import type { AccessRequest, DenyReason } from "../../src/controllers/tenancy/authorize.ts";

export const SUB = "00000000-0000-0000-0000-0000000000a1";
export const SUB2 = "00000000-0000-0000-0000-0000000000a2";
const S = `/subscriptions/${SUB}`;
export const RG_A = `${S}/resourceGroups/rg-a`;
export const RG_AB = `${S}/resourceGroups/rg-ab`;
export const RG_B = `${S}/resourceGroups/rg-b`;
export const RG_SHARED = `${S}/resourceGroups/shared`;
export const KV_A = `${RG_A}/providers/Microsoft.KeyVault/vaults/kv-a`;
export const KV_SHARED = `${RG_SHARED}/providers/Microsoft.KeyVault/vaults/kv-shared`;
export const LA_A = `${RG_A}/providers/Microsoft.Logic/workflows/la-a`;
export const LA_B = `${RG_B}/providers/Microsoft.Logic/workflows/la-b`;
export const UAMI_A = `${RG_A}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a`;
export const UAMI_B = `${RG_B}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-b`;
export const APIM_A = `${RG_A}/providers/Microsoft.ApiManagement/service/apim-a`;
export const APIM_B = `${RG_B}/providers/Microsoft.ApiManagement/service/apim-b`;
export const TENANT = "00000000-0000-0000-0000-00000000aaaa";
/** A Microsoft-owned service principal reached through an identifier URI the policy lists with '*'. */
export const MS_OWNED_APP_ID = "c5393580-f805-4401-95e8-94b7a6ef2fc2";
const CUSTOM_STAR_ROLE = "11111111-1111-1111-1111-111111111111";
const CUSTOM_RA_WRITER = "22222222-2222-2222-2222-222222222222";
const roleId = (guid: string) =>
  `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

export type Team = "a" | "b" | "none";
/** Namespace names per team, chosen by the test (the cluster test makes fresh ones). */
export type TeamNamespaces = Record<Team, string>;
/** Team b is selected by label, the others by name. */
export const TEAM_B_LABELS = { "example.com/team": "b" };

export function tenancyPolicies(ns: TeamNamespaces): AzureAccessPolicy[] {
  const meta = (name: string) => ({ name });
  return [
    {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "AzureAccessPolicy",
      metadata: meta(`team-a-${ns.a}`),
      spec: {
        namespaces: { names: [ns.a] },
        logicApps: [RG_A],
        userAssignedIdentities: [UAMI_A],
        scopes: [RG_A, KV_SHARED],
        roles: ["Key Vault Secrets User", ROLE.reader, roleId(ROLE.logicAppContributor), ROLE.contributor],
        apis: [
          { api: "api://orders", appRoles: ["*"] },
          { api: "api://ms-owned", appRoles: ["*"] },
          { api: GRAPH_APP_ID, appRoles: ["User.Read.All"] },
        ],
        apimServices: [{ serviceId: APIM_A }],
        apiRegistrations: { identifierUriPrefixes: ["api://orders", "https://contoso.example/apis/"] },
      },
    },
    {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "AzureAccessPolicy",
      metadata: meta(`team-b-${ns.b}`),
      spec: {
        namespaces: { selector: { matchLabels: TEAM_B_LABELS } },
        logicApps: [RG_B],
        userAssignedIdentities: [RG_B],
        scopes: [S],
        maxScopeBreadth: "subscription",
        roles: ["Reader", "Contributor", CUSTOM_STAR_ROLE],
        privilegedRoles: [ROLE.userAccessAdministrator],
        apimServices: [{ serviceId: RG_B, targets: ["Api", "Global"] }],
      },
    },
  ];
}

export type TenancyObject =
  { kind: "LogicAppIdentityBinding"; spec: BindingSpec } | { kind: "ApimJwtPolicy"; spec: JwtPolicySpec };

/**
 * ApiRegistration cases (matcher only: admission does not check identifier URIs, the reconciler does before Graph
 * is read). Team a may declare under api://orders and https://contoso.example/apis/; team b may declare nothing.
 */
export const API_REGISTRATION_CASES: { name: string; team: Team; uri: string; verdict: true | DenyReason }[] =
  [
    { name: "registration: the allowed URI itself", team: "a", uri: "api://orders", verdict: true },
    {
      name: "registration: below the prefix at a path boundary",
      team: "a",
      uri: "api://orders/v2",
      verdict: true,
    },
    {
      name: "registration: a prefix ending in / covers its paths",
      team: "a",
      uri: "https://contoso.example/apis/x",
      verdict: true,
    },
    {
      name: "registration: same start, no boundary",
      team: "a",
      uri: "api://orders-admin",
      verdict: "NotAllowed",
    },
    {
      name: "registration: case differs (tokens carry it verbatim)",
      team: "a",
      uri: "api://Orders",
      verdict: "NotAllowed",
    },
    { name: "registration: another URI", team: "a", uri: "api://payments", verdict: "NotAllowed" },
    {
      name: "registration: a policy without apiRegistrations allows none",
      team: "b",
      uri: "api://orders",
      verdict: "NotAllowed",
    },
    {
      name: "registration: no policy selects the namespace",
      team: "none",
      uri: "api://orders",
      verdict: "NoAccessPolicy",
    },
  ];

export interface TenancyCase {
  name: string;
  team: Team;
  object: TenancyObject;
  /** Substring of the API server's refusal, or true when admission lets it through. */
  admission: true | string;
  /** The facet under test, as the reconciler resolves it. */
  request: AccessRequest;
  verdict: true | DenyReason;
}

const LA_OF: Record<Team, string> = { a: LA_A, b: LA_B, none: LA_A };

function binding(team: Team, patch: Partial<BindingSpec> = {}): TenancyObject {
  return {
    kind: "LogicAppIdentityBinding",
    spec: { logicAppId: LA_OF[team], identity: { type: "SystemAssigned" }, ...patch },
  };
}
function grant(team: Team, scope: string, role: string): TenancyObject {
  return binding(team, { roleAssignments: [{ scope, role }] });
}
function appRole(team: Team, api: string, value: string): TenancyObject {
  return binding(team, { appRoleAssignments: [{ api, appRole: value }] });
}
function jwt(serviceId: string, target?: JwtPolicySpec["target"]): TenancyObject {
  return {
    kind: "ApimJwtPolicy",
    spec: {
      apimServiceId: serviceId,
      audiences: ["api://orders"],
      tenantId: TENANT,
      ...(target ? { target } : {}),
    },
  };
}
const roleReq = (
  scope: string,
  guid: string,
  extra: Partial<Extract<AccessRequest, { kind: "grantRole" }>> = {},
) => ({ kind: "grantRole", scope, roleDefinitionGuid: guid, ...extra }) as const;
const appReq = (
  appId: string,
  value: string,
  extra: Partial<Extract<AccessRequest, { kind: "grantAppRole" }>> = {},
) =>
  ({
    kind: "grantAppRole",
    appId,
    servicePrincipalId: "sp-" + appId.slice(0, 8),
    value,
    appOwnerOrganizationId: TENANT,
    ...extra,
  }) as const;
const ORDERS_APP = "33333333-3333-3333-3333-333333333333";
const PATTERN = "should match";

export const TENANCY_CASES: readonly TenancyCase[] = [
  // Logic Apps
  {
    name: "bind own Logic App",
    team: "a",
    object: binding("a"),
    admission: true,
    request: { kind: "bindLogicApp", logicAppId: LA_A },
    verdict: true,
  },
  {
    name: "bind Logic App of sibling rg-ab (shared prefix)",
    team: "a",
    object: binding("a", { logicAppId: `${RG_AB}/providers/Microsoft.Logic/workflows/la-a` }),
    admission: "does not allow Logic App",
    request: { kind: "bindLogicApp", logicAppId: `${RG_AB}/providers/Microsoft.Logic/workflows/la-a` },
    verdict: "NotAllowed",
  },
  {
    name: "bind Logic App of team b",
    team: "a",
    object: binding("a", { logicAppId: LA_B }),
    admission: "does not allow Logic App",
    request: { kind: "bindLogicApp", logicAppId: LA_B },
    verdict: "NotAllowed",
  },
  {
    name: "bind own Logic App, case games",
    team: "a",
    object: binding("a", {
      logicAppId: `/SUBSCRIPTIONS/${SUB}/RESOURCEGROUPS/RG-A/providers/microsoft.logic/workflows/LA-A`,
    }),
    admission: true,
    request: {
      kind: "bindLogicApp",
      logicAppId: `/SUBSCRIPTIONS/${SUB}/RESOURCEGROUPS/RG-A/providers/microsoft.logic/workflows/LA-A`,
    },
    verdict: true,
  },
  {
    name: "bind Standard Logic App in own RG",
    team: "a",
    object: binding("a", { logicAppId: `${RG_A}/providers/Microsoft.Web/sites/std-a` }),
    admission: true,
    request: { kind: "bindLogicApp", logicAppId: `${RG_A}/providers/Microsoft.Web/sites/std-a` },
    verdict: true,
  },
  {
    name: "Logic App ID ending in /..",
    team: "a",
    object: binding("a", { logicAppId: `${RG_A}/providers/Microsoft.Logic/workflows/..` }),
    admission: PATTERN,
    request: { kind: "bindLogicApp", logicAppId: `${RG_A}/providers/Microsoft.Logic/workflows/..` },
    verdict: "InvalidArmId",
  },
  {
    name: "Logic App ID with %2F",
    team: "a",
    object: binding("a", { logicAppId: `${RG_A}%2Fproviders/Microsoft.Logic/workflows/la-a` }),
    admission: PATTERN,
    request: { kind: "bindLogicApp", logicAppId: `${RG_A}%2Fproviders/Microsoft.Logic/workflows/la-a` },
    verdict: "InvalidArmId",
  },
  {
    name: "namespace no policy selects",
    team: "none",
    object: binding("none"),
    admission: true,
    request: { kind: "bindLogicApp", logicAppId: LA_A },
    verdict: "NoAccessPolicy",
  },
  {
    name: "label-selected namespace binds own Logic App",
    team: "b",
    object: binding("b"),
    admission: true,
    request: { kind: "bindLogicApp", logicAppId: LA_B },
    verdict: true,
  },
  {
    name: "label-selected namespace binds team a's Logic App",
    team: "b",
    object: binding("b", { logicAppId: LA_A }),
    admission: "does not allow Logic App",
    request: { kind: "bindLogicApp", logicAppId: LA_A },
    verdict: "NotAllowed",
  },
  // User-assigned identities
  {
    name: "attach own UAMI",
    team: "a",
    object: binding("a", { identity: { type: "UserAssigned", userAssignedIdentityId: UAMI_A } }),
    admission: true,
    request: { kind: "attachIdentity", identityId: UAMI_A },
    verdict: true,
  },
  {
    name: "attach UAMI of another resource group",
    team: "a",
    object: binding("a", { identity: { type: "UserAssigned", userAssignedIdentityId: UAMI_B } }),
    admission: "does not allow user-assigned identity",
    request: { kind: "attachIdentity", identityId: UAMI_B },
    verdict: "NotAllowed",
  },
  {
    name: "attach unlisted UAMI in own RG (list is exact)",
    team: "a",
    object: binding("a", {
      identity: {
        type: "UserAssigned",
        userAssignedIdentityId: `${RG_A}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a2`,
      },
    }),
    admission: "does not allow user-assigned identity",
    request: {
      kind: "attachIdentity",
      identityId: `${RG_A}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a2`,
    },
    verdict: "NotAllowed",
  },
  {
    name: "attach own UAMI, upper-case name",
    team: "a",
    object: binding("a", {
      identity: { type: "UserAssigned", userAssignedIdentityId: UAMI_A.replace("id-a", "ID-A") },
    }),
    admission: true,
    request: { kind: "attachIdentity", identityId: UAMI_A.replace("id-a", "ID-A") },
    verdict: true,
  },
  // Roles and scopes
  {
    name: "role by built-in name",
    team: "a",
    object: grant("a", KV_A, "Key Vault Secrets User"),
    admission: true,
    request: roleReq(KV_A, ROLE.keyVaultSecretsUser),
    verdict: true,
  },
  {
    name: "role by GUID, policy lists the name",
    team: "a",
    object: grant("a", KV_A, ROLE.keyVaultSecretsUser),
    admission: true,
    request: roleReq(KV_A, ROLE.keyVaultSecretsUser),
    verdict: true,
  },
  {
    name: "role by definition ID, policy lists the name",
    team: "a",
    object: grant("a", KV_A, roleId(ROLE.keyVaultSecretsUser)),
    admission: true,
    request: roleReq(KV_A, ROLE.keyVaultSecretsUser),
    verdict: true,
  },
  {
    name: "role by name, policy lists the definition ID",
    team: "a",
    object: grant("a", RG_A, "Logic App Contributor"),
    admission: true,
    request: roleReq(RG_A, ROLE.logicAppContributor),
    verdict: true,
  },
  {
    name: "role not listed (by GUID)",
    team: "a",
    object: grant("a", RG_A, ROLE.storageBlobDataReader),
    admission: "does not allow role",
    request: roleReq(RG_A, ROLE.storageBlobDataReader),
    verdict: "NotAllowed",
  },
  {
    name: "custom role name: admission cannot resolve",
    team: "a",
    object: grant("a", RG_A, "Orders Reader"),
    admission: true,
    request: roleReq(RG_A, "44444444-4444-4444-4444-444444444444", {
      roleName: "Orders Reader",
      permissions: [{ actions: ["Microsoft.Web/sites/read"] }],
    }),
    verdict: "NotAllowed",
  },
  {
    name: "Reader at own RG",
    team: "a",
    object: grant("a", RG_A, "Reader"),
    admission: true,
    request: roleReq(RG_A, ROLE.reader),
    verdict: true,
  },
  {
    name: "Reader at sibling rg-ab",
    team: "a",
    object: grant("a", RG_AB, "Reader"),
    admission: "does not allow scope",
    request: roleReq(RG_AB, ROLE.reader),
    verdict: "NotAllowed",
  },
  {
    name: "Reader at the subscription (not in scopes)",
    team: "a",
    object: grant("a", S, "Reader"),
    admission: "does not allow scope",
    request: roleReq(S, ROLE.reader),
    verdict: "NotAllowed",
  },
  {
    name: "scope escaping with /../..",
    team: "a",
    object: grant("a", `${KV_A}/../..`, "Reader"),
    admission: PATTERN,
    request: roleReq(`${KV_A}/../..`, ROLE.reader),
    verdict: "InvalidArmId",
  },
  {
    name: "scope with %2F",
    team: "a",
    object: grant("a", `${RG_A}/providers/Microsoft.KeyVault/vaults/kv-a%2F..`, "Reader"),
    admission: PATTERN,
    request: roleReq(`${RG_A}/providers/Microsoft.KeyVault/vaults/kv-a%2F..`, ROLE.reader),
    verdict: "InvalidArmId",
  },
  {
    name: "scope with a trailing slash",
    team: "a",
    object: grant("a", `${RG_A}/`, "Reader"),
    admission: PATTERN,
    request: roleReq(`${RG_A}/`, ROLE.reader),
    verdict: "InvalidArmId",
  },
  {
    name: "scope with a . segment",
    team: "a",
    object: grant("a", `${RG_A}/providers/Microsoft.KeyVault/./kv-a`, "Reader"),
    admission: PATTERN,
    request: roleReq(`${RG_A}/providers/Microsoft.KeyVault/./kv-a`, ROLE.reader),
    verdict: "InvalidArmId",
  },
  {
    name: "scope, case games",
    team: "a",
    object: grant(
      "a",
      `/subscriptions/${SUB.toUpperCase()}/RESOURCEGROUPS/RG-A/providers/Microsoft.KeyVault/vaults/KV-A`,
      "Reader",
    ),
    admission: true,
    request: roleReq(
      `/subscriptions/${SUB.toUpperCase()}/RESOURCEGROUPS/RG-A/providers/Microsoft.KeyVault/vaults/KV-A`,
      ROLE.reader,
    ),
    verdict: true,
  },
  {
    name: "exact shared vault",
    team: "a",
    object: grant("a", KV_SHARED, "Key Vault Secrets User"),
    admission: true,
    request: roleReq(KV_SHARED, ROLE.keyVaultSecretsUser),
    verdict: true,
  },
  {
    name: "RG of the shared vault",
    team: "a",
    object: grant("a", RG_SHARED, "Key Vault Secrets User"),
    admission: "does not allow scope",
    request: roleReq(RG_SHARED, ROLE.keyVaultSecretsUser),
    verdict: "NotAllowed",
  },
  {
    name: "Owner by name",
    team: "a",
    object: grant("a", RG_A, "Owner"),
    admission: "privileged role",
    request: roleReq(RG_A, ROLE.owner),
    verdict: "PrivilegedRole",
  },
  {
    name: "owner, lower-case name",
    team: "a",
    object: grant("a", RG_A, "owner"),
    admission: "privileged role",
    request: roleReq(RG_A, ROLE.owner),
    verdict: "PrivilegedRole",
  },
  {
    name: "Owner by GUID",
    team: "a",
    object: grant("a", RG_A, ROLE.owner),
    admission: "privileged role",
    request: roleReq(RG_A, ROLE.owner),
    verdict: "PrivilegedRole",
  },
  {
    name: "Owner by definition ID",
    team: "a",
    object: grant("a", RG_A, roleId(ROLE.owner)),
    admission: "privileged role",
    request: roleReq(RG_A, ROLE.owner),
    verdict: "PrivilegedRole",
  },
  {
    name: "Owner by upper-case GUID at the subscription",
    team: "b",
    object: grant("b", S, ROLE.owner.toUpperCase()),
    admission: "privileged role",
    request: roleReq(S, ROLE.owner),
    verdict: "PrivilegedRole",
  },
  {
    name: "User Access Administrator by name",
    team: "a",
    object: grant("a", RG_A, "User Access Administrator"),
    admission: "privileged role",
    request: roleReq(RG_A, ROLE.userAccessAdministrator),
    verdict: "PrivilegedRole",
  },
  {
    name: "RBAC Administrator by GUID",
    team: "a",
    object: grant("a", RG_A, ROLE.rbacAdministrator),
    admission: "privileged role",
    request: roleReq(RG_A, ROLE.rbacAdministrator),
    verdict: "PrivilegedRole",
  },
  {
    name: "custom role with actions *",
    team: "b",
    object: grant("b", RG_B, CUSTOM_STAR_ROLE),
    admission: true,
    request: roleReq(RG_B, CUSTOM_STAR_ROLE, { permissions: [{ actions: ["*"] }] }),
    verdict: "PrivilegedRole",
  },
  {
    name: "custom role that can write role assignments",
    team: "a",
    object: grant("a", RG_A, "Team Access Manager"),
    admission: true,
    request: roleReq(RG_A, CUSTOM_RA_WRITER, {
      roleName: "Team Access Manager",
      permissions: [{ actions: ["Microsoft.Authorization/*/Write"] }],
    }),
    verdict: "PrivilegedRole",
  },
  {
    name: "Contributor at own RG",
    team: "a",
    object: grant("a", RG_A, "Contributor"),
    admission: true,
    request: roleReq(RG_A, ROLE.contributor),
    verdict: true,
  },
  {
    name: "Contributor at the subscription",
    team: "b",
    object: grant("b", S, "Contributor"),
    admission: "Contributor or wider",
    request: roleReq(S, ROLE.contributor),
    verdict: "ScopeTooBroad",
  },
  {
    name: "Contributor by GUID at the subscription",
    team: "b",
    object: grant("b", S, ROLE.contributor),
    admission: "Contributor or wider",
    request: roleReq(S, ROLE.contributor),
    verdict: "ScopeTooBroad",
  },
  {
    name: "Reader at the subscription, maxScopeBreadth subscription",
    team: "b",
    object: grant("b", S, "Reader"),
    admission: true,
    request: roleReq(S, ROLE.reader),
    verdict: true,
  },
  {
    name: "Reader at another subscription",
    team: "b",
    object: grant("b", `/subscriptions/${SUB2}`, "Reader"),
    admission: "does not allow scope",
    request: roleReq(`/subscriptions/${SUB2}`, ROLE.reader),
    verdict: "NotAllowed",
  },
  {
    name: "look-alike subscription ID (one character off)",
    team: "b",
    object: grant("b", `/subscriptions/${SUB.slice(0, -1)}b`, "Reader"),
    admission: "does not allow scope",
    request: roleReq(`/subscriptions/${SUB.slice(0, -1)}b`, ROLE.reader),
    verdict: "NotAllowed",
  },
  {
    name: "User Access Administrator in privilegedRoles",
    team: "b",
    object: grant("b", RG_B, ROLE.userAccessAdministrator),
    admission: true,
    request: roleReq(RG_B, ROLE.userAccessAdministrator),
    verdict: true,
  },
  {
    name: "privileged role by name even when listed by GUID",
    team: "b",
    object: grant("b", RG_B, "User Access Administrator"),
    admission: true,
    request: roleReq(RG_B, ROLE.userAccessAdministrator),
    verdict: true,
  },
  {
    name: "Reader at own RG's resource when max breadth is resourceGroup",
    team: "a",
    object: grant("a", `${KV_A}/secrets/s1`, "Reader"),
    admission: true,
    request: roleReq(`${KV_A}/secrets/s1`, ROLE.reader),
    verdict: true,
  },
  // App roles
  {
    name: "own API by identifier URI, any value",
    team: "a",
    object: appRole("a", "api://orders", "Orders.Write"),
    admission: true,
    request: appReq(ORDERS_APP, "Orders.Write", { api: "api://orders", identifierUris: ["api://orders"] }),
    verdict: true,
  },
  {
    name: "Graph app role named exactly",
    team: "a",
    object: appRole("a", GRAPH_APP_ID, "User.Read.All"),
    admission: true,
    request: appReq(GRAPH_APP_ID, "User.Read.All", {
      appOwnerOrganizationId: "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    }),
    verdict: true,
  },
  {
    name: "Graph RoleManagement.ReadWrite.Directory",
    team: "a",
    object: appRole("a", GRAPH_APP_ID, "RoleManagement.ReadWrite.Directory"),
    admission: "does not allow app role",
    request: appReq(GRAPH_APP_ID, "RoleManagement.ReadWrite.Directory", {
      appOwnerOrganizationId: "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    }),
    verdict: "FirstPartyApi",
  },
  {
    name: "Graph appId in upper case",
    team: "b",
    object: appRole("b", GRAPH_APP_ID.toUpperCase(), "Directory.ReadWrite.All"),
    admission: "does not allow app role",
    request: appReq(GRAPH_APP_ID, "Directory.ReadWrite.All"),
    verdict: "FirstPartyApi",
  },
  {
    name: "unlisted API",
    team: "a",
    object: appRole("a", "api://payments", "Pay"),
    admission: "does not allow app role",
    request: appReq("55555555-5555-5555-5555-555555555555", "Pay", {
      api: "api://payments",
      identifierUris: ["api://payments"],
    }),
    verdict: "NotAllowed",
  },
  {
    name: "Microsoft-owned API behind a listed identifier URI and '*'",
    team: "a",
    object: appRole("a", "api://ms-owned", "Tenant.Admin"),
    admission: true,
    request: appReq(MS_OWNED_APP_ID, "Tenant.Admin", {
      api: "api://ms-owned",
      identifierUris: ["api://ms-owned"],
      appOwnerOrganizationId: "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    }),
    verdict: "FirstPartyApi",
  },
  {
    name: "team without apis",
    team: "b",
    object: appRole("b", "api://orders", "Orders.Read"),
    admission: "does not allow app role",
    request: appReq(ORDERS_APP, "Orders.Read", { api: "api://orders", identifierUris: ["api://orders"] }),
    verdict: "NotAllowed",
  },
  // API Management
  {
    name: "APIM rule on own API",
    team: "a",
    object: jwt(APIM_A, { apiId: "orders" }),
    admission: true,
    request: { kind: "apimRule", serviceId: APIM_A, target: { kind: "Api", apiId: "orders" } },
    verdict: true,
  },
  {
    name: "APIM rule on own product",
    team: "a",
    object: jwt(APIM_A, { productId: "starter" }),
    admission: true,
    request: { kind: "apimRule", serviceId: APIM_A, target: { kind: "Product", productId: "starter" } },
    verdict: true,
  },
  {
    name: "APIM rule on own operation",
    team: "a",
    object: jwt(APIM_A, { apiId: "orders", operationId: "get" }),
    admission: true,
    request: {
      kind: "apimRule",
      serviceId: APIM_A,
      target: { kind: "Operation", apiId: "orders", operationId: "get" },
    },
    verdict: true,
  },
  {
    name: "APIM global target, never by default",
    team: "a",
    object: jwt(APIM_A),
    admission: "Global",
    request: { kind: "apimRule", serviceId: APIM_A, target: { kind: "Global" } },
    verdict: "NotAllowed",
  },
  {
    name: "APIM service with a shared name prefix",
    team: "a",
    object: jwt(`${APIM_A}b`, { apiId: "orders" }),
    admission: "does not allow API Management service",
    request: { kind: "apimRule", serviceId: `${APIM_A}b`, target: { kind: "Api", apiId: "orders" } },
    verdict: "NotAllowed",
  },
  {
    name: "APIM global target where named",
    team: "b",
    object: jwt(APIM_B),
    admission: true,
    request: { kind: "apimRule", serviceId: APIM_B, target: { kind: "Global" } },
    verdict: true,
  },
  {
    name: "APIM product where only Api and Global are named",
    team: "b",
    object: jwt(APIM_B, { productId: "starter" }),
    admission: "Product",
    request: { kind: "apimRule", serviceId: APIM_B, target: { kind: "Product", productId: "starter" } },
    verdict: "NotAllowed",
  },
  {
    name: "APIM rule from a namespace no policy selects",
    team: "none",
    object: jwt(APIM_A, { apiId: "orders" }),
    admission: true,
    request: { kind: "apimRule", serviceId: APIM_A, target: { kind: "Api", apiId: "orders" } },
    verdict: "NoAccessPolicy",
  },
];
