/** Seeding and behind-the-back changes, shared by the control API; the types double as the client's contract. */
import { putFragment, putPolicy, apimServiceId, newEtag } from "./arm/apim.ts";
import { normaliseScope, renderRoleAssignment } from "./arm/authorization.ts";
import { rgId } from "./arm/common.ts";
import { putRoleAssignment } from "./arm/role-assignment-index.ts";
import { deleteWorkflowRecord, putWorkflow } from "./arm/logic.ts";
import { putUami } from "./arm/msi.ts";
import { putSite } from "./arm/web.ts";
import { newApplication, servicePrincipalOf } from "./graph/applications.ts";
import { armError } from "./http.ts";
import { applyIdentity, identityType, releaseIdentity } from "./identity.ts";
import { azureTime, isGuid, key, newGuid, workflowVersion } from "./ids.ts";
import { mintManagedIdentityPrincipal } from "./principals.ts";
import type { Runtime } from "./runtime.ts";
import type {
  ApimServiceRecord,
  ApplicationRecord,
  IdentityRecord,
  IdentityType,
  JsonObject,
  RoleAssignmentRecord,
  ServicePrincipalRecord,
} from "./state.ts";

export type LogicAppKind = "Consumption" | "Standard";

export interface SeedSubscription {
  subscriptionId?: string;
  displayName?: string;
}
export interface SeedResourceGroup {
  subscriptionId: string;
  name: string;
  location?: string;
}
export interface SeedIdentity {
  type: IdentityType;
  /** UAMI resource ids (must be seeded first). */
  userAssignedIdentities?: string[];
}
export interface SeedLogicApp {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  kind?: LogicAppKind;
  location?: string;
  identity?: SeedIdentity;
  tags?: Record<string, string>;
  /** Workflow properties (definition, parameters, state) or site properties, stored as given. */
  properties?: JsonObject;
}
export interface LogicAppView {
  id: string;
  name: string;
  kind: LogicAppKind;
  identity: { type: IdentityType; principalId?: string; tenantId?: string; userAssignedIdentities: string[] };
  changedTime?: string;
}
export interface SeedUserAssignedIdentity {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
}
export interface UserAssignedIdentityView {
  id: string;
  principalId: string;
  clientId: string;
}
export interface SeedAppRole {
  value: string;
  id?: string;
  displayName?: string;
  description?: string;
  allowedMemberTypes?: string[];
  isEnabled?: boolean;
}
export interface SeedServicePrincipal {
  displayName: string;
  id?: string;
  appId?: string;
  /** Application identifier URIs; they appear in the SP's servicePrincipalNames. */
  identifierUris?: string[];
  appRoles?: SeedAppRole[];
  /** Overrides the default names (identifierUris + appId). */
  servicePrincipalNames?: string[];
  appDisplayName?: string;
  publisherName?: string;
  appOwnerOrganizationId?: string;
}
/** An app registration as someone made it in the portal (old: replicated already). */
export interface SeedApplication {
  displayName: string;
  id?: string;
  appId?: string;
  identifierUris?: string[];
  appRoles?: SeedAppRole[];
  /** Object ids; default none, so the Graph caller (OwnedBy) may read but not change it. */
  owners?: string[];
  signInAudience?: string;
  requestedAccessTokenVersion?: 1 | 2 | null;
  requiredResourceAccess?: JsonObject[];
  publisherDomain?: string;
  createdDateTime?: string;
  /** Read-only properties rendered as given (verifiedPublisher, certification, samlMetadataUrl...). */
  readOnly?: JsonObject;
  /** Also seed its service principal (same appId, roles and names). */
  servicePrincipal?: boolean;
}
export interface ApplicationView {
  id: string;
  appId: string;
  displayName: string;
  identifierUris: string[];
  appRoles: { id: string; value: string; isEnabled: boolean }[];
  owners: string[];
  deletedDateTime: string | null;
  servicePrincipalId?: string;
}
export interface ServicePrincipalView {
  id: string;
  appId: string;
  displayName: string;
  servicePrincipalType: string;
  servicePrincipalNames: string[];
  appRoles: { id: string; value: string }[];
}
export interface SeedUser {
  displayName: string;
  id?: string;
  principalType?: "User" | "Group";
}
export interface SeedRoleDefinition {
  roleName: string;
  assignableScopes: string[];
  /** GUID; generated when omitted. */
  name?: string;
  description?: string;
  permissions?: {
    actions?: string[];
    notActions?: string[];
    dataActions?: string[];
    notDataActions?: string[];
  }[];
}
export interface SeedRoleAssignment {
  scope: string;
  /** Role GUID or role definition id. */
  roleDefinitionId: string;
  principalId: string;
  name?: string;
  principalType?: string;
  description?: string;
}
export interface SeedAppRoleAssignment {
  resourceId: string;
  principalId: string;
  appRoleId: string;
}
export interface SeedApimService {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
  /** Replaces the service's custom domains (also on a service that exists: a test moves the gateway host). */
  customHostnames?: { type: string; hostName: string }[];
}
export interface SeedApimOperation {
  serviceId: string;
  apiId: string;
  operationId: string;
  displayName?: string;
  method?: string;
  urlTemplate?: string;
}
export interface SeedApimApi {
  serviceId: string;
  apiId: string;
  displayName?: string;
  path?: string;
  serviceUrl?: string;
  type?: string;
  operations?: Omit<SeedApimOperation, "serviceId" | "apiId">[];
}
export interface SeedApimProduct {
  serviceId: string;
  productId: string;
  displayName?: string;
  description?: string;
  approvalRequired?: boolean;
  subscriptionsLimit?: number;
  /** APIs (ids) the product holds: their requests run the product's policy (issue 14, the policy chain). */
  apis?: string[];
}
export interface SeedApimProductApi {
  serviceId: string;
  productId: string;
  apiId: string;
}
export interface PolicyTarget {
  serviceId: string;
  productId?: string;
  apiId?: string;
  operationId?: string;
}
export interface PutPolicyRaw {
  target: PolicyTarget;
  xml: string;
  /** Defaults to rawxml: the document is kept exactly as given. */
  format?: "xml" | "rawxml";
}
export interface PolicyView {
  /** The stored (rawxml) document. */
  xml: string;
  etag: string;
}
export interface SeedPolicyFragment {
  serviceId: string;
  fragmentId: string;
  xml: string;
  description?: string;
  format?: "xml" | "rawxml";
}
export interface SeedSystemIdentity {
  /** Any resource id (e.g. a key vault) whose system-assigned identity should exist. */
  resourceId: string;
  location?: string;
}
export interface ScenarioOptions {
  subscriptionId?: string;
  resourceGroup?: string;
  location?: string;
}
export interface ScenarioIds {
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  resourceGroupId: string;
  location: string;
  logicAppId: string;
  logicAppName: string;
  keyVaultScope: string;
  ordersApi: {
    servicePrincipalId: string;
    appId: string;
    identifierUri: string;
    appRoles: { AddRole: string; ReadRole: string };
  };
  apim: { serviceId: string; apiId: string; operationId: string; productId: string };
}

const DEFAULT_LOCATION = "westeurope";

export function seedSubscription(rt: Runtime, s: SeedSubscription): { subscriptionId: string } {
  const subscriptionId = s.subscriptionId ?? newGuid();
  rt.state.subscriptions[subscriptionId.toLowerCase()] = {
    subscriptionId,
    displayName: s.displayName ?? `Subscription ${subscriptionId.slice(0, 8)}`,
  };
  return { subscriptionId };
}

export function seedResourceGroup(rt: Runtime, g: SeedResourceGroup): { id: string } {
  if (!rt.state.subscriptions[g.subscriptionId.toLowerCase()])
    seedSubscription(rt, { subscriptionId: g.subscriptionId });
  const id = rgId(g.subscriptionId, g.name);
  rt.state.resourceGroups[key(id)] ??= {
    subscriptionId: g.subscriptionId,
    name: g.name,
    location: g.location ?? DEFAULT_LOCATION,
  };
  return { id };
}

function toArmIdentity(i: SeedIdentity): JsonObject {
  return {
    type: i.type,
    userAssignedIdentities: Object.fromEntries((i.userAssignedIdentities ?? []).map((id) => [id, {}])),
  };
}

export function logicAppView(rt: Runtime, id: string): LogicAppView {
  const w = rt.state.workflows[key(id)];
  const s = rt.state.sites[key(id)];
  const rec = w ?? s;
  if (!rec) throw armError(404, "NotFound", `No logic app '${id}'.`);
  const ident: IdentityRecord = rec.identity;
  const identity: LogicAppView["identity"] = {
    type: identityType(ident),
    userAssignedIdentities: ident.userAssignedIds,
  };
  if (ident.systemPrincipalId) {
    identity.principalId = ident.systemPrincipalId;
    identity.tenantId = rt.state.tenantId;
  }
  return {
    id: rec.id,
    name: rec.name,
    kind: w ? "Consumption" : "Standard",
    identity,
    ...(w ? { changedTime: w.changedTime } : {}),
  };
}

export function seedLogicApp(rt: Runtime, a: SeedLogicApp): LogicAppView {
  seedResourceGroup(rt, { subscriptionId: a.subscriptionId, name: a.resourceGroup, location: a.location });
  const location = a.location ?? DEFAULT_LOCATION;
  if ((a.kind ?? "Consumption") === "Consumption") {
    const body: JsonObject = {
      location,
      tags: a.tags ?? {},
      properties: a.properties ?? {
        state: "Enabled",
        definition: {
          $schema:
            "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
          contentVersion: "1.0.0.0",
          parameters: {},
          triggers: {},
          actions: {},
          outputs: {},
        },
        parameters: {},
      },
    };
    if (a.identity) body.identity = toArmIdentity(a.identity);
    const { record } = putWorkflow(rt, a.subscriptionId, a.resourceGroup, a.name, body);
    return logicAppView(rt, record.id);
  }
  // Standard: the system-assigned identity is on by default, as the portal creates it.
  const body: JsonObject = {
    location,
    kind: "functionapp,workflowapp",
    tags: a.tags ?? {},
    identity: toArmIdentity(a.identity ?? { type: "SystemAssigned" }),
  };
  if (a.properties) body.properties = a.properties;
  const { record } = putSite(rt, a.subscriptionId, a.resourceGroup, a.name, body);
  return logicAppView(rt, record.id);
}

/** Behind-the-back identity change (portal toggle): same side effects as the ARM call. */
export function setLogicAppIdentity(rt: Runtime, id: string, identity: SeedIdentity): LogicAppView {
  const w = rt.state.workflows[key(id)];
  const s = rt.state.sites[key(id)];
  const rec = w ?? s;
  if (!rec) throw armError(404, "NotFound", `No logic app '${id}'.`);
  const req = {
    type: identity.type,
    userAssignedIdentities: toArmIdentity(identity).userAssignedIdentities as Record<string, unknown>,
  };
  rec.identity = applyIdentity(
    rt,
    rec.id,
    rec.name,
    rec.identity,
    req,
    w ? "Consumption" : "Standard",
    false,
  );
  if (w) {
    w.changedTime = azureTime();
    w.version = workflowVersion();
  }
  return logicAppView(rt, rec.id);
}

export function deleteLogicApp(rt: Runtime, id: string): { deleted: boolean } {
  const w = rt.state.workflows[key(id)];
  if (w) {
    deleteWorkflowRecord(rt, w);
    return { deleted: true };
  }
  const s = rt.state.sites[key(id)];
  if (s) {
    releaseIdentity(rt, s.identity);
    delete rt.state.sites[key(id)];
    return { deleted: true };
  }
  return { deleted: false };
}

export function seedUserAssignedIdentity(rt: Runtime, u: SeedUserAssignedIdentity): UserAssignedIdentityView {
  seedResourceGroup(rt, { subscriptionId: u.subscriptionId, name: u.resourceGroup, location: u.location });
  const { record } = putUami(rt, u.subscriptionId, u.resourceGroup, u.name, {
    location: u.location ?? DEFAULT_LOCATION,
  });
  return { id: record.id, principalId: record.principalId, clientId: record.clientId };
}

export function servicePrincipalView(sp: ServicePrincipalRecord): ServicePrincipalView {
  return {
    id: sp.id,
    appId: sp.appId,
    displayName: sp.displayName,
    servicePrincipalType: sp.servicePrincipalType,
    servicePrincipalNames: sp.servicePrincipalNames,
    appRoles: sp.appRoles.map((r) => ({ id: r.id, value: r.value })),
  };
}

/** An app registration's service principal (replicated already: seeded objects are old). */
export function seedServicePrincipal(rt: Runtime, s: SeedServicePrincipal): ServicePrincipalView {
  const appId = s.appId ?? newGuid();
  const sp: ServicePrincipalRecord = {
    id: s.id ?? newGuid(),
    appId,
    displayName: s.displayName,
    servicePrincipalType: "Application",
    servicePrincipalNames: s.servicePrincipalNames ?? [...(s.identifierUris ?? []), appId],
    alternativeNames: [],
    appRoles: (s.appRoles ?? []).map(seededAppRole),
    appOwnerOrganizationId: s.appOwnerOrganizationId ?? rt.state.tenantId,
    ...(s.appDisplayName ? { appDisplayName: s.appDisplayName } : {}),
    ...(s.publisherName ? { publisherName: s.publisherName } : {}),
    createdAt: 0,
  };
  rt.state.servicePrincipals[sp.id.toLowerCase()] = sp;
  return servicePrincipalView(sp);
}

export function applicationView(rt: Runtime, a: ApplicationRecord): ApplicationView {
  const sp = servicePrincipalOf(rt, a.appId);
  return {
    id: a.id,
    appId: a.appId,
    displayName: a.displayName,
    identifierUris: a.identifierUris,
    appRoles: a.appRoles.map((r) => ({ id: r.id, value: r.value, isEnabled: r.isEnabled })),
    owners: a.owners,
    deletedDateTime: a.deletedDateTime,
    ...(sp ? { servicePrincipalId: sp.id } : {}),
  };
}

/** An app role as seeded: Graph's defaults for what the seed leaves out (enabled, for applications). */
function seededAppRole(r: NonNullable<SeedApplication["appRoles"]>[number]) {
  return {
    id: r.id ?? newGuid(),
    value: r.value,
    displayName: r.displayName ?? r.value,
    description: r.description ?? r.value,
    allowedMemberTypes: r.allowedMemberTypes ?? ["Application"],
    isEnabled: r.isEnabled ?? true,
    origin: "Application",
  };
}

export function seedApplication(rt: Runtime, s: SeedApplication): ApplicationView {
  const appRoles = (s.appRoles ?? []).map(seededAppRole);
  const a = newApplication(rt, {
    ...(s.id ? { id: s.id } : {}),
    ...(s.appId ? { appId: s.appId } : {}),
    displayName: s.displayName,
    identifierUris: s.identifierUris ?? [],
    appRoles,
    owners: s.owners ?? [],
    ...(s.signInAudience ? { signInAudience: s.signInAudience } : {}),
    ...(s.requestedAccessTokenVersion !== undefined
      ? { requestedAccessTokenVersion: s.requestedAccessTokenVersion }
      : {}),
    requiredResourceAccess: s.requiredResourceAccess ?? [],
    ...(s.publisherDomain ? { publisherDomain: s.publisherDomain } : {}),
    ...(s.createdDateTime ? { createdDateTime: s.createdDateTime } : {}),
    ...(s.readOnly ? { readOnly: s.readOnly } : {}),
    createdAt: 0,
  });
  rt.state.applications[a.id.toLowerCase()] = a;
  if (s.servicePrincipal) {
    seedServicePrincipal(rt, {
      displayName: a.displayName,
      appId: a.appId,
      identifierUris: a.identifierUris,
      appRoles,
      appDisplayName: a.displayName,
    });
  }
  return applicationView(rt, a);
}

export function seedUser(rt: Runtime, u: SeedUser): { id: string } {
  const id = u.id ?? newGuid();
  rt.state.users[id.toLowerCase()] = {
    id,
    displayName: u.displayName,
    principalType: u.principalType ?? "User",
    createdAt: 0,
  };
  return { id };
}

export function seedRoleDefinition(rt: Runtime, d: SeedRoleDefinition): { id: string; name: string } {
  const name = d.name ?? newGuid();
  const now = azureTime();
  rt.state.customRoleDefinitions[name.toLowerCase()] = {
    name,
    roleName: d.roleName,
    type: "CustomRole",
    description: d.description ?? "",
    assignableScopes: d.assignableScopes,
    permissions: (d.permissions ?? [{}]).map((p) => ({
      actions: p.actions ?? [],
      notActions: p.notActions ?? [],
      dataActions: p.dataActions ?? [],
      notDataActions: p.notDataActions ?? [],
    })),
    createdOn: now,
    updatedOn: now,
  };
  return { id: `/providers/Microsoft.Authorization/roleDefinitions/${name}`, name };
}

/** A pre-existing assignment, stored without ARM's checks (e.g. one made by someone else long ago). */
export function seedRoleAssignment(rt: Runtime, a: SeedRoleAssignment): JsonObject {
  const name = a.name ?? newGuid();
  if (!isGuid(name))
    throw armError(400, "InvalidRoleAssignmentId", "The role assignment name must be a GUID.");
  const now = azureTime();
  const record: RoleAssignmentRecord = {
    name,
    scope: normaliseScope(a.scope),
    roleDefinitionName: a.roleDefinitionId.split("/").pop()!,
    principalId: a.principalId,
    principalType: a.principalType ?? "ServicePrincipal",
    description: a.description ?? null,
    condition: null,
    conditionVersion: null,
    delegatedManagedIdentityResourceId: null,
    createdOn: now,
    updatedOn: now,
    createdBy: null,
    updatedBy: null,
  };
  putRoleAssignment(rt, record);
  return renderRoleAssignment(record);
}

export function seedSystemIdentity(
  rt: Runtime,
  s: SeedSystemIdentity,
): { principalId: string; clientId: string } {
  const sp = mintManagedIdentityPrincipal(rt, s.resourceId, s.resourceId.split("/").pop() ?? "", false);
  sp.createdAt = 0;
  rt.state.otherSystemIdentities[key(s.resourceId)] = {
    resourceId: s.resourceId,
    location: s.location ?? DEFAULT_LOCATION,
    principalId: sp.id,
  };
  return { principalId: sp.id, clientId: sp.appId };
}

export function apimService(rt: Runtime, serviceId: string): ApimServiceRecord {
  const svc = rt.state.apimServices[key(serviceId)];
  if (!svc) throw armError(404, "NotFound", `No APIM service '${serviceId}'.`);
  return svc;
}

export function seedApimService(rt: Runtime, s: SeedApimService): { id: string } {
  seedResourceGroup(rt, { subscriptionId: s.subscriptionId, name: s.resourceGroup, location: s.location });
  const id = apimServiceId(s.subscriptionId, s.resourceGroup, s.name);
  rt.state.apimServices[key(id)] ??= {
    id,
    subscriptionId: s.subscriptionId,
    resourceGroup: s.resourceGroup,
    name: s.name,
    location: s.location ?? DEFAULT_LOCATION,
    apis: {},
    products: {},
    policies: {},
    fragments: {},
  };
  if (s.customHostnames) rt.state.apimServices[key(id)]!.customHostnames = s.customHostnames;
  return { id };
}

export function seedApimApi(rt: Runtime, a: SeedApimApi): { id: string } {
  const svc = apimService(rt, a.serviceId);
  const existing = svc.apis[a.apiId.toLowerCase()];
  svc.apis[a.apiId.toLowerCase()] = {
    name: a.apiId,
    displayName: a.displayName ?? a.apiId,
    path: a.path ?? a.apiId,
    serviceUrl: a.serviceUrl ?? `https://${a.apiId}.example.com`,
    ...(a.type ? { type: a.type } : {}),
    etag: newEtag(rt),
    operations: existing?.operations ?? {},
  };
  for (const o of a.operations ?? []) seedApimOperation(rt, { ...o, serviceId: a.serviceId, apiId: a.apiId });
  return { id: `${svc.id}/apis/${a.apiId}` };
}

export function seedApimOperation(rt: Runtime, o: SeedApimOperation): { id: string } {
  const svc = apimService(rt, o.serviceId);
  const api = svc.apis[o.apiId.toLowerCase()];
  if (!api) throw armError(404, "NotFound", `No API '${o.apiId}'.`);
  api.operations[o.operationId.toLowerCase()] = {
    name: o.operationId,
    displayName: o.displayName ?? o.operationId,
    method: o.method ?? "GET",
    urlTemplate: o.urlTemplate ?? `/${o.operationId}`,
  };
  return { id: `${svc.id}/apis/${api.name}/operations/${o.operationId}` };
}

export function seedApimProduct(rt: Runtime, p: SeedApimProduct): { id: string } {
  const svc = apimService(rt, p.serviceId);
  const existing = svc.products[p.productId.toLowerCase()];
  svc.products[p.productId.toLowerCase()] = {
    name: p.productId,
    displayName: p.displayName ?? p.productId,
    ...(p.description !== undefined ? { description: p.description } : {}),
    ...(p.approvalRequired !== undefined ? { approvalRequired: p.approvalRequired } : {}),
    ...(p.subscriptionsLimit !== undefined ? { subscriptionsLimit: p.subscriptionsLimit } : {}),
    etag: newEtag(rt),
    apis: existing?.apis ?? [],
  };
  for (const apiId of p.apis ?? [])
    seedApimProductApi(rt, { serviceId: p.serviceId, productId: p.productId, apiId });
  return { id: `${svc.id}/products/${p.productId}` };
}

/** Adds an API to a product (idempotent), as `PUT .../products/{p}/apis/{a}` would. */
export function seedApimProductApi(rt: Runtime, l: SeedApimProductApi): { id: string } {
  const svc = apimService(rt, l.serviceId);
  const product = svc.products[l.productId.toLowerCase()];
  if (!product) throw armError(404, "NotFound", `No product '${l.productId}'.`);
  if (!svc.apis[l.apiId.toLowerCase()]) throw armError(404, "NotFound", `No API '${l.apiId}'.`);
  const apis = (product.apis ??= []);
  if (!apis.includes(l.apiId.toLowerCase())) apis.push(l.apiId.toLowerCase());
  return { id: `${svc.id}/products/${product.name}/apis/${l.apiId}` };
}

export function policyScopeKey(t: PolicyTarget): string {
  if (t.operationId)
    return `apis/${t.apiId!.split(";")[0]!.toLowerCase()}/operations/${t.operationId.toLowerCase()}`;
  if (t.apiId) return `apis/${t.apiId.split(";")[0]!.toLowerCase()}`;
  if (t.productId) return `products/${t.productId.toLowerCase()}`;
  return "";
}

export function putPolicyRaw(rt: Runtime, p: PutPolicyRaw): PolicyView {
  const { record } = putPolicy(
    rt,
    apimService(rt, p.target.serviceId),
    policyScopeKey(p.target),
    p.xml,
    p.format ?? "rawxml",
  );
  return { xml: record.raw, etag: record.etag };
}

export function getPolicyRaw(rt: Runtime, t: PolicyTarget): PolicyView | null {
  const p = apimService(rt, t.serviceId).policies[policyScopeKey(t)];
  return p ? { xml: p.raw, etag: p.etag } : null;
}

export function deletePolicyRaw(rt: Runtime, t: PolicyTarget): { deleted: boolean } {
  const svc = apimService(rt, t.serviceId);
  const k = policyScopeKey(t);
  const had = Boolean(svc.policies[k]);
  delete svc.policies[k];
  return { deleted: had };
}

export function seedPolicyFragment(rt: Runtime, f: SeedPolicyFragment): PolicyView {
  const { record } = putFragment(
    rt,
    apimService(rt, f.serviceId),
    f.fragmentId,
    f.xml,
    f.format ?? "rawxml",
    f.description ?? "",
  );
  return { xml: record.raw, etag: record.etag };
}

/** The demo world: one call for a tenant, a Consumption logic app without identity, an API and its APIM front. */
export function seedScenario(rt: Runtime, o: ScenarioOptions = {}): ScenarioIds {
  const subscriptionId = o.subscriptionId ?? "8f2c7a1e-3b4d-4e5f-9a6b-7c8d9e0f1a2b";
  const resourceGroup = o.resourceGroup ?? "rg-orders";
  const location = o.location ?? DEFAULT_LOCATION;
  seedSubscription(rt, { subscriptionId, displayName: "Orders (emulated)" });
  const { id: resourceGroupId } = seedResourceGroup(rt, { subscriptionId, name: resourceGroup, location });
  const app = seedLogicApp(rt, {
    subscriptionId,
    resourceGroup,
    name: "orders-workflow",
    kind: "Consumption",
    location,
  });
  const sp = seedServicePrincipal(rt, {
    displayName: "orders-api",
    identifierUris: ["api://orders"],
    appRoles: [
      { value: "AddRole", displayName: "Add orders", description: "Create orders" },
      { value: "ReadRole", displayName: "Read orders", description: "Read orders" },
    ],
  });
  const { id: serviceId } = seedApimService(rt, {
    subscriptionId,
    resourceGroup,
    name: "apim-orders",
    location,
  });
  seedApimApi(rt, {
    serviceId,
    apiId: "orders-api",
    displayName: "Orders API",
    path: "orders",
    operations: [
      { operationId: "create-order", displayName: "Create order", method: "POST", urlTemplate: "/orders" },
    ],
  });
  seedApimProduct(rt, { serviceId, productId: "orders-product", displayName: "Orders" });
  const role = (v: string) => sp.appRoles.find((r) => r.value === v)!.id;
  return {
    tenantId: rt.state.tenantId,
    subscriptionId,
    resourceGroup,
    resourceGroupId,
    location,
    logicAppId: app.id,
    logicAppName: app.name,
    keyVaultScope: `${resourceGroupId}/providers/Microsoft.KeyVault/vaults/kv-orders`,
    ordersApi: {
      servicePrincipalId: sp.id,
      appId: sp.appId,
      identifierUri: "api://orders",
      appRoles: { AddRole: role("AddRole"), ReadRole: role("ReadRole") },
    },
    apim: { serviceId, apiId: "orders-api", operationId: "create-order", productId: "orders-product" },
  };
}
