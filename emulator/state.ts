/**
 * The emulator's world, as plain JSON-serialisable records so a snapshot is `JSON.stringify(state)`.
 * Maps are keyed by lower-case ARM id (ARM ids are case-insensitive) or by object id for Graph.
 */

export type JsonObject = Record<string, unknown>;

export type IdentityType = "None" | "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned";

/** Identity of a workflow or site: the system principal (if enabled) and user-assigned identity ids as sent. */
export interface IdentityRecord {
  systemPrincipalId?: string;
  userAssignedIds: string[];
  /** Whether the resource ever had an identity object; ARM echoes `{"type":"None"}` after a disable. */
  explicitNone?: boolean;
}

export interface SubscriptionRecord {
  subscriptionId: string;
  displayName: string;
}

export interface ResourceGroupRecord {
  subscriptionId: string;
  name: string;
  location: string;
}

export interface WorkflowRecord {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  /** definition, parameters, state, integrationAccount {id}, integrationServiceEnvironment {id}. */
  properties: JsonObject;
  createdTime: string;
  changedTime: string;
  version: string;
  accessEndpointId: string;
  identity: IdentityRecord;
}

export interface SiteRecord {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  kind: string;
  tags: Record<string, string>;
  properties: JsonObject;
  identity: IdentityRecord;
  /** Standard workflows of the app, keyed by lower-case name (./arm/site-workflows.ts). */
  workflows?: Record<string, SiteWorkflowRecord>;
  /** The app's `connections.json` (managedApiConnections...), shown in each workflow's `files`. */
  connectionsJson?: JsonObject;
}

/** One workflow of a Standard app, with every definition it has had (hostruntime `versions`). */
export interface SiteWorkflowRecord {
  name: string;
  /** "Stateful" | "Stateless". */
  kind: string;
  flowState: string;
  health: JsonObject;
  definition: JsonObject;
  parameters: JsonObject;
  createdTime: string;
  changedTime: string;
  /** The current version id; `versions` holds it and every earlier one. */
  version: string;
  versions: Record<
    string,
    { definition: JsonObject; parameters: JsonObject; createdTime: string; changedTime: string }
  >;
}

/** A managed API connection (`Microsoft.Web/connections`, ./arm/connections.ts). */
export interface ConnectionRecord {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  /** "V1" (Consumption) or "V2" (Standard); absent when the caller sent none. */
  kind?: string;
  tags: Record<string, string>;
  /** displayName, parameterValues..., api {id, name, displayName...}: as written. */
  properties: JsonObject;
  createdTime: string;
  changedTime: string;
  /** Keyed by lower-case policy name. */
  accessPolicies: Record<string, ConnectionAccessPolicyRecord>;
}

export interface ConnectionAccessPolicyRecord {
  name: string;
  location: string;
  /** `{type: "ActiveDirectory", identity: {objectId, tenantId}}` as written. */
  principal: JsonObject;
}

export interface UserAssignedIdentityRecord {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  principalId: string;
  clientId: string;
}

export interface AppRoleRecord {
  id: string;
  value: string;
  displayName: string;
  description: string;
  allowedMemberTypes: string[];
  isEnabled: boolean;
  origin: string;
}

export interface ServicePrincipalRecord {
  id: string;
  appId: string;
  displayName: string;
  servicePrincipalType: "Application" | "ManagedIdentity";
  servicePrincipalNames: string[];
  alternativeNames: string[];
  appRoles: AppRoleRecord[];
  appOwnerOrganizationId: string | null;
  appDisplayName?: string;
  publisherName?: string | null;
  /** Epoch ms; a principal younger than the replication delay is not yet visible to ARM/Graph lookups. */
  createdAt: number;
}

export interface UserRecord {
  id: string;
  displayName: string;
  /** Users and groups are both directory principals here. */
  principalType?: "User" | "Group";
  createdAt: number;
}

export interface RoleDefinitionRecord {
  name: string;
  roleName: string;
  type: "BuiltInRole" | "CustomRole";
  description: string;
  assignableScopes: string[];
  permissions: { actions: string[]; notActions: string[]; dataActions: string[]; notDataActions: string[] }[];
  createdOn: string;
  updatedOn: string;
}

export interface RoleAssignmentRecord {
  name: string;
  scope: string;
  roleDefinitionName: string;
  principalId: string;
  principalType: string;
  description: string | null;
  condition: string | null;
  conditionVersion: string | null;
  delegatedManagedIdentityResourceId: string | null;
  createdOn: string;
  updatedOn: string;
  createdBy: string | null;
  updatedBy: string | null;
}

export interface AppRoleAssignmentRecord {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: string;
  principalDisplayName: string;
  resourceId: string;
  resourceDisplayName: string;
  createdDateTime: string;
}

/** An app registration (Graph `application`); its service principal lives in `servicePrincipals`, by appId. */
export interface ApplicationRecord {
  id: string;
  appId: string;
  displayName: string;
  identifierUris: string[];
  appRoles: AppRoleRecord[];
  signInAudience: string;
  /** `api.requestedAccessTokenVersion`: null (v1 tokens), 1 or 2. */
  requestedAccessTokenVersion: number | null;
  requiredResourceAccess: JsonObject[];
  publisherDomain: string;
  createdDateTime: string;
  /** Epoch ms; `POST /servicePrincipals` refuses the appId until the application has replicated. */
  createdAt: number;
  /** Object ids of the owners (users or service principals). */
  owners: string[];
  /** Set by a soft delete: the application is then only visible under `/directory/deletedItems`. */
  deletedDateTime: string | null;
  deletedAt: number | null;
  /** Read-only properties a seed may carry (verifiedPublisher, certification...): stored, rendered, no behaviour. */
  readOnly?: JsonObject;
}

export interface PolicyRecord {
  /** The document as the service keeps it: rawxml input verbatim, xml input with entities decoded. */
  raw: string;
  etag: string;
}

export interface FragmentRecord extends PolicyRecord {
  name: string;
  description: string;
}

export interface ApimOperationRecord {
  name: string;
  displayName: string;
  method: string;
  urlTemplate: string;
}

export interface ApimApiRecord {
  name: string;
  displayName: string;
  /** `http` when absent; the example API contract is a `soap` one. */
  type?: string;
  path: string;
  serviceUrl: string;
  etag: string;
  operations: Record<string, ApimOperationRecord>;
}

export interface ApimProductRecord {
  name: string;
  displayName: string;
  description?: string;
  approvalRequired?: boolean;
  subscriptionsLimit?: number;
  etag: string;
  /** Lower-case ids of the APIs in the product (Product API entity, `products/{p}/apis/{a}`). */
  apis?: string[];
}

export interface ApimServiceRecord {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  apis: Record<string, ApimApiRecord>;
  products: Record<string, ApimProductRecord>;
  /** Keyed by scope path below the service: "", "products/p", "apis/a", "apis/a/operations/o" (lower case). */
  policies: Record<string, PolicyRecord>;
  fragments: Record<string, FragmentRecord>;
  /**
   * Custom domains (hostnameConfigurations beyond the built-in Proxy host), as example ApiManagementServiceGetService
   * lists them: `type` Proxy (the gateway), DeveloperPortal, Management, ConfigurationApi...
   */
  customHostnames?: { type: string; hostName: string }[];
}

export interface State {
  tenantId: string;
  subscriptions: Record<string, SubscriptionRecord>;
  resourceGroups: Record<string, ResourceGroupRecord>;
  workflows: Record<string, WorkflowRecord>;
  sites: Record<string, SiteRecord>;
  userAssignedIdentities: Record<string, UserAssignedIdentityRecord>;
  /** System-assigned identities of resource types the emulator does not otherwise model (key: resource id). */
  otherSystemIdentities: Record<string, { resourceId: string; location: string; principalId: string }>;
  servicePrincipals: Record<string, ServicePrincipalRecord>;
  /** Keyed by lower-case object id; soft-deleted ones stay (with `deletedDateTime`) for 30 days. */
  applications: Record<string, ApplicationRecord>;
  users: Record<string, UserRecord>;
  /** Custom role definitions only; built-ins come from ./arm/role-catalogue.ts. */
  customRoleDefinitions: Record<string, RoleDefinitionRecord>;
  /** Keyed by lower-case name: role assignment names are unique across subscriptions. */
  roleAssignments: Record<string, RoleAssignmentRecord>;
  appRoleAssignments: Record<string, AppRoleAssignmentRecord>;
  apimServices: Record<string, ApimServiceRecord>;
  /** Managed API connections, keyed by lower-case ARM id. */
  connections: Record<string, ConnectionRecord>;
  /** Monotonic counter behind APIM entity tags. */
  etagCounter: number;
}

/**
 * The customer's tenant. Not 72f988bf-… (Microsoft's own tenant, which the official examples show): apps registered
 * here are the customer's, and an SP owned by a Microsoft tenant is a first-party API to the tenancy rules.
 */
export const DEFAULT_TENANT_ID = "5f0c2b8e-6d1a-4c3b-9e7f-a1b2c3d4e5f6";

export function emptyState(tenantId: string = DEFAULT_TENANT_ID): State {
  return {
    tenantId,
    subscriptions: {},
    resourceGroups: {},
    workflows: {},
    sites: {},
    userAssignedIdentities: {},
    otherSystemIdentities: {},
    servicePrincipals: {},
    applications: {},
    users: {},
    customRoleDefinitions: {},
    roleAssignments: {},
    appRoleAssignments: {},
    apimServices: {},
    connections: {},
    etagCounter: 1,
  };
}

export function parseSnapshot(text: string): State {
  const parsed = JSON.parse(text) as Partial<State>;
  return { ...emptyState(), ...parsed };
}
