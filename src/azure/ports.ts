/**
 * The narrow ports through which reconcilers see and change Azure. Each follows Crossplane's ExternalClient
 * contract: `observe*`/`list*`/`find*` never modify anything and report absence as a value, not an error;
 * `ensure*`/`create*` of something that exists and `delete*` of something gone are not errors.
 * Adapters in ./arm and ./graph implement them over the real @azure/* SDK clients with SDK retries off; failures
 * surface as AzureError (./errors.ts) so the work queue can decide between retry, wait and give up.
 */

/**
 * Per-call options every port method takes last. The reconcile context's abort signal travels here to the HTTP
 * request (and to LRO polls), so a shutdown or a lost lease stops a pass mid-flight instead of after it.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

export type LogicAppKind = "Consumption" | "Standard";

/** Azure's identity `type` strings, including the Standard-only combined value (comma and space). */
export type ManagedIdentityType = "None" | "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned";

export interface UserAssignedIdentityRef {
  /** ARM ID as Azure returned it (case may differ from the spec). */
  id: string;
  principalId?: string;
  clientId?: string;
}

export interface LogicAppIdentity {
  type: ManagedIdentityType;
  principalId?: string;
  tenantId?: string;
  userAssigned: UserAssignedIdentityRef[];
}

export interface LogicAppObservation {
  exists: boolean;
  kind: LogicAppKind;
  identity: LogicAppIdentity;
  /** Consumption: `changedTime`; Standard: ETag if any. Used to detect a concurrent edit before writing. */
  version?: string;
}

export interface DesiredIdentity {
  type: ManagedIdentityType;
  userAssignedIdentityIds: string[];
}

export interface LogicAppPort {
  observe(logicAppId: string, call?: CallOptions): Promise<LogicAppObservation>;
  /**
   * Changes only the identity of the Logic App and returns what Azure reports afterwards. Consumption: GET then PUT of
   * the same resource with only `identity` changed, refused when `expectedVersion` no longer matches.
   */
  setIdentity(
    logicAppId: string,
    desired: DesiredIdentity,
    expectedVersion?: string,
    call?: CallOptions,
  ): Promise<LogicAppObservation>;
}

export interface UserAssignedIdentityObservation {
  exists: boolean;
  principalId?: string;
  clientId?: string;
  tenantId?: string;
}

export interface UserAssignedIdentityPort {
  observe(identityId: string, call?: CallOptions): Promise<UserAssignedIdentityObservation>;
}

export interface RoleDefinition {
  /** Full resource ID, e.g. /subscriptions/…/providers/Microsoft.Authorization/roleDefinitions/<guid>. */
  id: string;
  /** The GUID. */
  name: string;
  roleName: string;
  /**
   * What the role lets its holder do, as ARM returns it. The tenancy matcher decides from these whether a custom role
   * is privileged or broad; a definition without them (hand-built doubles) is refused as RoleNotResolved.
   */
  permissions?: RolePermissions[];
}

export interface RolePermissions {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export interface RoleDefinitionPort {
  /** Resolves a role name, GUID or ID at a scope; undefined when no such role exists there. */
  resolve(scope: string, role: string, call?: CallOptions): Promise<RoleDefinition | undefined>;
}

export interface RoleAssignment {
  id: string;
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  description?: string;
}

export interface NewRoleAssignment {
  scope: string;
  /** Deterministic GUID (see ../azure/naming.ts). */
  name: string;
  roleDefinitionId: string;
  principalId: string;
  description: string;
}

export interface RoleAssignmentPort {
  /** Every assignment at or above `scope` held by `principalId` (one list call, filtered by principal). */
  listForPrincipal(scope: string, principalId: string, call?: CallOptions): Promise<RoleAssignment[]>;
  /** Assignments at exactly `scope` whose description carries `marker` (used to find orphans of old principals). */
  listAtScope(scope: string, call?: CallOptions): Promise<RoleAssignment[]>;
  /** Always sends principalType ServicePrincipal. Throws AzureError kind Exists (409) or PrincipalNotFound. */
  create(assignment: NewRoleAssignment, call?: CallOptions): Promise<RoleAssignment>;
  /** Deleting an assignment that is gone is not an error. */
  delete(id: string, call?: CallOptions): Promise<void>;
}

export interface AppRole {
  id: string;
  value: string;
  isEnabled: boolean;
  allowedMemberTypes: string[];
}

export interface ServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  /** The identifier URIs (and the appId) the service principal answers to. */
  servicePrincipalNames: string[];
  appRoles: AppRole[];
  /**
   * The tenant that owns the application; Microsoft's tenants mark a first-party API, which tenancy allows only by
   * exact appId. null when Graph reports none (managed identities); undefined when not read.
   */
  appOwnerOrganizationId?: string | null;
}

export interface AppRoleAssignment {
  id: string;
  principalId: string;
  resourceId: string;
  appRoleId: string;
}

export interface GraphPort {
  /** By appId GUID or by identifier URI (servicePrincipalNames). */
  findServicePrincipal(api: string, call?: CallOptions): Promise<ServicePrincipal | undefined>;
  listAppRoleAssignedTo(resourceId: string, call?: CallOptions): Promise<AppRoleAssignment[]>;
  /** Throws AzureError kind Exists when Graph says the assignment already exists. */
  createAppRoleAssignment(
    resourceId: string,
    principalId: string,
    appRoleId: string,
    call?: CallOptions,
  ): Promise<AppRoleAssignment>;
  deleteAppRoleAssignment(resourceId: string, assignmentId: string, call?: CallOptions): Promise<void>;
}

/** An app role as declared on an application (the SP's `AppRole` plus what only the application carries). */
export interface ApplicationAppRole extends AppRole {
  displayName: string;
  description: string;
}

/** An Entra app registration (Graph `application`), as the ApiRegistration kind needs to see it. */
export interface ApplicationRegistration {
  /** Object id (`/applications/{id}`). */
  id: string;
  /** Client id: the JWT `aud` for v2 tokens. */
  appId: string;
  displayName: string;
  identifierUris: string[];
  appRoles: ApplicationAppRole[];
  /** `api.requestedAccessTokenVersion`: null means v1 tokens. */
  requestedAccessTokenVersion: 1 | 2 | null;
  signInAudience: string;
}

/**
 * What a create or patch sends. `appRoles` replaces the whole collection (Graph PATCH semantics): an enabled role can
 * only be removed, or its value changed, after a PATCH that disables it (AzureError Invalid, code
 * CannotDeleteOrUpdateEnabledEntitlement, otherwise).
 */
export interface ApplicationChanges {
  displayName?: string;
  identifierUris?: string[];
  appRoles?: ApplicationAppRole[];
  requestedAccessTokenVersion?: 1 | 2 | null;
  signInAudience?: string;
}

export interface NewApplication extends ApplicationChanges {
  displayName: string;
}

export interface DirectoryObjectRef {
  id: string;
  type: "servicePrincipal" | "user" | "group" | "other";
}

/**
 * App registrations through Graph with `Application.ReadWrite.OwnedBy`: the operator owns what it creates and may
 * change nothing else (AzureError Forbidden). Identifier URIs are unique in the tenant (AzureError Conflict, code
 * IdentifierUriInUse, on create or patch).
 */
export interface ApplicationPort {
  observeByAppId(appId: string, call?: CallOptions): Promise<ApplicationRegistration | undefined>;
  /** Exact URI (case aside): `api://x` and `api://x/` are two URIs. */
  observeByIdentifierUri(uri: string, call?: CallOptions): Promise<ApplicationRegistration | undefined>;
  create(app: NewApplication, call?: CallOptions): Promise<ApplicationRegistration>;
  patch(id: string, changes: ApplicationChanges, call?: CallOptions): Promise<void>;
  /** Soft delete (restorable for 30 days); its SP and every app-role assignment to it go. Gone is not an error. */
  delete(id: string, call?: CallOptions): Promise<void>;
  /** Needs Application.ReadWrite.All (Forbidden with OwnedBy). Already an owner is not an error. */
  addOwner(id: string, ownerObjectId: string, call?: CallOptions): Promise<void>;
  listOwners(id: string, call?: CallOptions): Promise<DirectoryObjectRef[]>;
  /**
   * The application's SP. Existing already: returned as it is. An application Graph has not replicated yet:
   * AzureError PrincipalNotFound (retry).
   */
  createServicePrincipal(appId: string, call?: CallOptions): Promise<ServicePrincipal>;
}

/** A policy scope in API Management. */
export interface ApimPolicyTarget {
  serviceId: string;
  productId?: string;
  apiId?: string;
  operationId?: string;
}

export interface PolicyDocument {
  /** Raw XML (format=rawxml), so policy expressions are not re-escaped. */
  xml: string;
  etag: string;
}

export interface FragmentDocument extends PolicyDocument {
  /** The fragment's description; on fragments the operator made, its owner marker (naming.fragmentOwnerMarker). */
  description: string;
}

export interface ApimPort {
  /** Whether the service and the target entity (product/API/operation) exist; names the missing one. */
  checkTarget(
    target: ApimPolicyTarget,
    call?: CallOptions,
  ): Promise<{ exists: true } | { exists: false; missing: string }>;
  getPolicy(target: ApimPolicyTarget, call?: CallOptions): Promise<PolicyDocument | undefined>;
  /**
   * `ifMatch` undefined creates only (like putFragment: APIM refuses to overwrite an existing document without
   * If-Match, surfaced as PreconditionFailed); otherwise the etag of the document the edit was computed from.
   * Throws AzureError kind PreconditionFailed on 412.
   */
  putPolicy(
    target: ApimPolicyTarget,
    xml: string,
    ifMatch: string | undefined,
    call?: CallOptions,
  ): Promise<PolicyDocument>;
  deletePolicy(target: ApimPolicyTarget, ifMatch: string, call?: CallOptions): Promise<void>;
  getFragment(
    serviceId: string,
    fragmentId: string,
    call?: CallOptions,
  ): Promise<FragmentDocument | undefined>;
  /**
   * `ifMatch` undefined creates only: APIM has no If-None-Match and refuses to overwrite an existing entity without
   * If-Match, which surfaces as PreconditionFailed like a stale tag does (re-read, then decide again). Pass the etag
   * read with the owner check to update; "*" overwrites whatever is there.
   */
  putFragment(
    serviceId: string,
    fragmentId: string,
    xml: string,
    description: string,
    ifMatch?: string,
    call?: CallOptions,
  ): Promise<void>;
  /** A gone fragment is not an error with "*"; a stale tag throws PreconditionFailed. */
  deleteFragment(serviceId: string, fragmentId: string, ifMatch: string, call?: CallOptions): Promise<void>;
}

/**
 * What the access check (controllers/jwt-policy/access) needs beyond ApimPort to compose an operation's inbound
 * chain: which operations an API has and which products hold it. Read-only; each is one paged list. An API or
 * product that does not exist is AzureError NotFound.
 */
export interface ApimChainPort {
  /** Operation ids of the API. */
  listOperations(serviceId: string, apiId: string, call?: CallOptions): Promise<string[]>;
  /** Ids of the products the API is in (their policies run for subscriptions of those products). */
  listApiProducts(serviceId: string, apiId: string, call?: CallOptions): Promise<string[]>;
  /** Ids of the APIs in the product. */
  listProductApis(serviceId: string, productId: string, call?: CallOptions): Promise<string[]>;
  /**
   * The host names callers reach the service's gateway by, lower case: the host of `gatewayUrl` and every
   * hostnameConfiguration of type Proxy (custom domains). Undefined when the service does not exist (404).
   * ApiManagementService_Get; the workflow check (issue 14) compares HTTP actions' URI hosts with them.
   */
  getGatewayHosts(serviceId: string, call?: CallOptions): Promise<string[] | undefined>;
}

/** One workflow's definition, as the workflow check reads it (read-only; the operator never writes definitions). */
export interface WorkflowDefinition {
  /** Consumption: the Logic App's name; Standard: the workflow's name within the app. */
  workflow: string;
  definition: unknown;
  /** Consumption `properties.parameters` (`$connections`...); Standard keeps them in files the check does not read. */
  parameters?: unknown;
}

export interface LogicAppWorkflows {
  workflows: WorkflowDefinition[];
  /** Standard: the app's `connections.json` as GetWorkflow shows it in `files`; undefined for Consumption. */
  connectionsJson?: unknown;
}

export interface WorkflowPort {
  /**
   * Consumption: the workflow's `properties.definition` and `parameters` (Workflows_Get). Standard: every workflow of
   * the site (WebApps_ListWorkflows, then WebApps_GetWorkflow each). Undefined when the Logic App is gone.
   */
  readDefinitions(logicAppId: string, call?: CallOptions): Promise<LogicAppWorkflows | undefined>;
}

/** An access policy of a managed API connection: the principal allowed to use it (Standard, `kind: V2`). */
export interface ConnectionAccessPolicy {
  /** ARM id `…/connections/{c}/accessPolicies/{name}`. */
  id: string;
  name: string;
  objectId: string;
  tenantId?: string;
}

export interface ConnectionObservation {
  exists: boolean;
  /** "V1" | "V2" when Azure reports it. */
  kind?: string;
  location?: string;
  /** `properties.createdTime`: a connection made after an identity was recreated is not a stale one. */
  createdTime?: string;
}

/**
 * Managed API connections (`Microsoft.Web/connections`, 2016-06-01) and their access policies. No SDK client covers
 * them; the adapter speaks ARM directly.
 */
export interface ConnectionPort {
  observe(connectionId: string, call?: CallOptions): Promise<ConnectionObservation>;
  listAccessPolicies(connectionId: string, call?: CallOptions): Promise<ConnectionAccessPolicy[]>;
  /** Creates or replaces the policy; idempotent. */
  putAccessPolicy(
    connectionId: string,
    name: string,
    principal: { objectId: string; tenantId: string },
    location: string,
    call?: CallOptions,
  ): Promise<ConnectionAccessPolicy>;
  /** A gone policy is not an error. */
  deleteAccessPolicy(connectionId: string, name: string, call?: CallOptions): Promise<void>;
}

/** A Logic App as a subscription-wide list reports it. */
export interface ListedLogicApp {
  /** ARM ID as Azure returned it. */
  id: string;
  observation: LogicAppObservation;
  /** Consumption: the definition and parameters the list returned anyway (the workflow check's input). */
  workflows?: LogicAppWorkflows;
}

/** A fragment as `PolicyFragment_ListByService` lists it (the list carries the document, not its ETag). */
export interface ListedFragment {
  fragmentId: string;
  value: string;
}

/**
 * Subscription-wide listings the inventory (./inventory/) refreshes from: one paged list per kind and subscription,
 * never a GET per object. Not for reconcilers, which keep to the per-object ports.
 */
export interface AzureListings {
  /** Consumption workflows and App Service sites (Standard Logic Apps are sites) of one subscription. */
  listLogicApps(subscriptionId: string): Promise<ListedLogicApp[]>;
  /** Every role assignment that applies in the subscription: inherited from above, at it, and below it. */
  listRoleAssignments(subscriptionId: string): Promise<RoleAssignment[]>;
  /** A policy document's ETag (HEAD, no body); undefined when the target has no document. */
  apimPolicyTag(target: ApimPolicyTarget): Promise<string | undefined>;
  /** A policy fragment's ETag (HEAD, no body); undefined when it does not exist. */
  apimFragmentTag(serviceId: string, fragmentId: string): Promise<string | undefined>;
  /**
   * Every policy fragment of an APIM service with its document, from one paged list (`PolicyFragment_ListByService`):
   * what the inventory compares fragments by, one list per service instead of a HEAD per fragment.
   */
  apimFragments(serviceId: string): Promise<ListedFragment[]>;
}

/** Every port, as the composition root hands them to reconcilers. */
export interface AzurePorts {
  logicApps: LogicAppPort;
  userAssignedIdentities: UserAssignedIdentityPort;
  roleDefinitions: RoleDefinitionPort;
  roleAssignments: RoleAssignmentPort;
  graph: GraphPort;
  applications: ApplicationPort;
  apim: ApimPort;
  /**
   * Optional so hand-built port sets (tests) need not carry it; without it the access check is skipped and the
   * workflow check compares no gateway host.
   */
  apimChain?: ApimChainPort;
  /** The workflow check's reads (issue 14); optional so hand-built port sets without it keep working. */
  workflows?: WorkflowPort;
  /** V2 connections' access policies (issue 14); optional for the same reason. */
  connections?: ConnectionPort;
}

/** The SDK client (or Graph) behind an Azure call; a bounded label set for metrics. */
export type AzureService = "arm-logic" | "arm-web" | "arm-msi" | "arm-authorization" | "arm-apim" | "graph";

/** One HTTP request an adapter sent, as reported to the optional observer (metrics, benchmark call counts). */
export interface AzureCall {
  service: AzureService;
  /** Adapter operation, e.g. `workflows.get`; stable, low cardinality. */
  operation: string;
  /** Undefined when no response arrived (connection reset, timeout). */
  statusCode: number | undefined;
  durationMs: number;
}

/** Called once per HTTP request (pages and LRO polls count separately); must not throw. */
export type AzureCallObserver = (call: AzureCall) => void;
