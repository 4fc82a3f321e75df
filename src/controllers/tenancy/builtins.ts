/**
 * Facts about Azure and Microsoft Entra that the tenancy rules rest on. Pure data, no I/O.
 */

/** Built-in roles whose GUIDs are fixed in every tenant (Learn "Azure built-in roles"; also emulator/arm/role-catalogue.ts). */
export const ROLE = {
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  rbacAdministrator: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  logicAppContributor: "87a39d53-fc1b-424a-814c-f7e04687dc9e",
} as const;

export interface KnownRole {
  guid: string;
  name: string;
  /** Can write role assignments or definitions (grants access to others). */
  privileged: boolean;
  /** Has actions '*' (Contributor or wider). */
  broad: boolean;
}

export const KNOWN_ROLES: readonly KnownRole[] = [
  { guid: ROLE.owner, name: "Owner", privileged: true, broad: true },
  { guid: ROLE.userAccessAdministrator, name: "User Access Administrator", privileged: true, broad: false },
  {
    guid: ROLE.rbacAdministrator,
    name: "Role Based Access Control Administrator",
    privileged: true,
    broad: false,
  },
  { guid: ROLE.contributor, name: "Contributor", privileged: false, broad: true },
  { guid: ROLE.reader, name: "Reader", privileged: false, broad: false },
  { guid: ROLE.keyVaultSecretsUser, name: "Key Vault Secrets User", privileged: false, broad: false },
  { guid: ROLE.storageBlobDataReader, name: "Storage Blob Data Reader", privileged: false, broad: false },
  { guid: ROLE.logicAppContributor, name: "Logic App Contributor", privileged: false, broad: false },
];

/** The roles denied by name whatever their resolved permissions say. */
export const PRIVILEGED_ROLE_GUIDS: ReadonlySet<string> = new Set(
  KNOWN_ROLES.filter((r) => r.privileged).map((r) => r.guid),
);

export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";

/**
 * Microsoft's own applications. Their service principals carry appOwnerOrganizationId = a Microsoft tenant:
 * f8cdef31-… ("Microsoft Services", the tenant of Microsoft Graph, Exchange, SharePoint, Teams) and 72f988bf-…
 * (Microsoft's corporate tenant), as listed by the Microsoft Learn page "Commonly used Microsoft first-party
 * services and portal apps" (learn.microsoft.com/power-platform/admin/apps-to-allow).
 */
export const MICROSOFT_TENANT_IDS: ReadonlySet<string> = new Set([
  "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
  "72f988bf-86f1-41af-91ab-2d7cd011db47",
]);

/** First-party appIds recognised even when the service principal's owner tenant was not read. */
export const FIRST_PARTY_APP_IDS: ReadonlySet<string> = new Set([
  GRAPH_APP_ID,
  "00000002-0000-0000-c000-000000000000", // Azure AD Graph (retired, still present in tenants)
  "00000002-0000-0ff1-ce00-000000000000", // Office 365 Exchange Online
  "00000003-0000-0ff1-ce00-000000000000", // Office 365 SharePoint Online
]);

/** One permission block of a role definition, as ARM returns it. */
export interface RolePermission {
  actions: readonly string[];
  notActions?: readonly string[];
}

/** Actions that let a principal hand out access; a role that can do any of them is privileged. */
const AUTHORIZATION_WRITES = [
  "Microsoft.Authorization/roleAssignments/write",
  "Microsoft.Authorization/roleDefinitions/write",
  "Microsoft.Authorization/denyAssignments/write",
  "Microsoft.Authorization/elevateAccess/action",
];

/** ARM action wildcards: '*' matches any run of characters, case-insensitively. */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    "^" +
      pattern
        .split("*")
        .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
        .join(".*") +
      "$",
    "i",
  );
  return re.test(action);
}

function allows(perms: readonly RolePermission[], action: string): boolean {
  return perms.some(
    (p) =>
      p.actions.some((a) => actionMatches(a, action)) &&
      !(p.notActions ?? []).some((n) => actionMatches(n, action)),
  );
}

/** A role that can write Microsoft.Authorization (Owner, User Access Administrator, a custom '*' role...). */
export function canGrantAccess(perms: readonly RolePermission[]): boolean {
  return AUTHORIZATION_WRITES.some((a) => allows(perms, a));
}

/** Contributor or wider: actions '*' (whatever its notActions). */
export function isBroad(perms: readonly RolePermission[]): boolean {
  return perms.some((p) => p.actions.some((a) => a.trim() === "*"));
}
