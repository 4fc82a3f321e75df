/**
 * Microsoft Graph v1.0 app registrations: `/applications`, their owners, the `/directory/deletedItems` recycle bin,
 * and the rules the operator's ApiRegistration kind runs into. Sources (cite when changing behaviour):
 * - shapes: the vendored examples emulator/test/azure-api-examples/graph/application-*.json (POST, GET, GET by
 *   appId with $select, list, PATCH, PATCH appRoles, POST owners/$ref);
 * - an enabled app role cannot be removed or have its value changed: 400 `CannotDeleteOrUpdateEnabledEntitlement`,
 *   "Permission (scope or role) cannot be deleted or updated unless disabled first." (the error body quoted in
 *   OfficeDev/microsoft-365-agents-toolkit#9420 and Microsoft365DSC#5524; the two-step disable-then-remove is
 *   Entra's documented way, microsoftgraph/microsoft-graph-docs#5338);
 * - identifier URIs are unique in the tenant: 400 `Request_BadRequest` "Another object with the same value for
 *   property identifierUris already exists." with detail `ObjectConflict` (Azure/go-autorest#308, Azure/pcs-cli#146);
 * - `Application.ReadWrite.OwnedBy` manages only applications the caller owns and "isn't sufficient to add another
 *   owner" (Graph docs, application-post-owners); non-owners get 403 `Authorization_RequestDenied`
 *   "Insufficient privileges to complete the operation.";
 * - DELETE moves the application to `/directory/deletedItems` for 30 days, restorable with
 *   `POST /directory/deletedItems/{id}/restore` (Graph docs, application-delete / directory-deleteditems).
 */
import { azureTime, isGuid, newGuid } from "../ids.ts";
import { graphError, requireObject, type Ctx, type Reply, type Route } from "../http.ts";
import { deletePrincipal, findPrincipal } from "../principals.ts";
import type { Runtime } from "../runtime.ts";
import type { AppRoleRecord, ApplicationRecord, JsonObject, ServicePrincipalRecord } from "../state.ts";
import { GRAPH_METADATA, graphPage, notFound, select } from "./common.ts";

/** Soft-deleted directory objects are purged after 30 days (Graph docs, directory-deleteditems). */
export const DELETED_RETENTION_MS = 30 * 24 * 3600 * 1000;

const ENTITY = `${GRAPH_METADATA}#applications/$entity`;

export function renderApplication(a: ApplicationRecord): Record<string, unknown> {
  return {
    id: a.id,
    deletedDateTime: a.deletedDateTime,
    isFallbackPublicClient: null,
    appId: a.appId,
    applicationTemplateId: null,
    identifierUris: a.identifierUris,
    createdDateTime: a.createdDateTime,
    disabledByMicrosoftStatus: null,
    displayName: a.displayName,
    isDeviceOnlyAuthSupported: null,
    groupMembershipClaims: null,
    optionalClaims: null,
    addIns: [],
    publisherDomain: a.publisherDomain,
    samlMetadataUrl: null,
    signInAudience: a.signInAudience,
    tags: [],
    tokenEncryptionKeyId: null,
    api: {
      requestedAccessTokenVersion: a.requestedAccessTokenVersion,
      acceptMappedClaims: null,
      knownClientApplications: [],
      oauth2PermissionScopes: [],
      preAuthorizedApplications: [],
    },
    appRoles: a.appRoles.map(renderAppRole),
    publicClient: { redirectUris: [] },
    info: {
      termsOfServiceUrl: null,
      supportUrl: null,
      privacyStatementUrl: null,
      marketingUrl: null,
      logoUrl: null,
    },
    keyCredentials: [],
    parentalControlSettings: { countriesBlockedForMinors: [], legalAgeGroupRule: "Allow" },
    passwordCredentials: [],
    requiredResourceAccess: a.requiredResourceAccess,
    web: {
      redirectUris: [],
      homePageUrl: null,
      logoutUrl: null,
      implicitGrantSettings: { enableIdTokenIssuance: false, enableAccessTokenIssuance: false },
    },
    ...a.readOnly,
  };
}

const renderAppRole = (r: AppRoleRecord): Record<string, unknown> => ({
  allowedMemberTypes: r.allowedMemberTypes,
  description: r.description,
  displayName: r.displayName,
  id: r.id,
  isEnabled: r.isEnabled,
  origin: r.origin,
  value: r.value,
});

const badRequest = (message: string, code = "Request_BadRequest") => graphError(400, code, message);

export const insufficientPrivileges = () =>
  graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");

function isPurged(rt: Runtime, a: ApplicationRecord): boolean {
  return a.deletedAt !== null && rt.now() - a.deletedAt >= DELETED_RETENTION_MS;
}

/** Live applications; purges soft-deleted ones whose 30 days are over. */
export function liveApplications(rt: Runtime): ApplicationRecord[] {
  for (const [k, a] of Object.entries(rt.state.applications))
    if (isPurged(rt, a)) delete rt.state.applications[k];
  return Object.values(rt.state.applications).filter((a) => a.deletedDateTime === null);
}

function deletedApplications(rt: Runtime): ApplicationRecord[] {
  liveApplications(rt);
  return Object.values(rt.state.applications).filter((a) => a.deletedDateTime !== null);
}

/** `/applications/{id}` or `/applications(appId='…')`, as captured by the route patterns. */
function liveApplication(ctx: Ctx, id: string | undefined, appId: string | undefined): ApplicationRecord {
  const ref = id ?? appId ?? "";
  const found = liveApplications(ctx.rt).find((a) =>
    id ? a.id.toLowerCase() === id.toLowerCase() : a.appId.toLowerCase() === appId?.toLowerCase(),
  );
  return found ?? notFound(ref);
}

/** The OwnedBy rule: with that permission, writes need the caller among the owners. */
function requireWrite(rt: Runtime, a: ApplicationRecord): void {
  const caller = rt.config.graphCaller;
  if (caller.permission === "Application.ReadWrite.All") return;
  if (!a.owners.some((o) => o.toLowerCase() === caller.objectId.toLowerCase()))
    throw insufficientPrivileges();
}

/** Identifier URIs compare case-insensitively but exactly otherwise: `api://x` and `api://x/` are two URIs. */
function checkIdentifierUris(rt: Runtime, uris: string[], self: string | undefined): void {
  const seen = new Set<string>();
  for (const u of uris) {
    if (typeof u !== "string" || !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(u))
      throw badRequest(`Application alias '${String(u)}' value is invalid.`);
    if (seen.has(u.toLowerCase())) throw identifierUriTaken();
    seen.add(u.toLowerCase());
  }
  const taken = liveApplications(rt).some(
    (a) => a.id !== self && a.identifierUris.some((u) => seen.has(u.toLowerCase())),
  );
  if (taken) throw identifierUriTaken();
}

function identifierUriTaken() {
  const e = badRequest("Another object with the same value for property identifierUris already exists.");
  const error = (e.reply.body as { error: Record<string, unknown> }).error;
  error.details = [{ code: "ObjectConflict", message: error.message, target: "identifierUris" }];
  return e;
}

function parseAppRoles(value: unknown): AppRoleRecord[] {
  if (!Array.isArray(value)) throw badRequest("Invalid value for property 'appRoles'.");
  const roles = value.map((v): AppRoleRecord => {
    const r = requireObject(v, "graph");
    const id = String(r.id ?? "");
    if (!isGuid(id)) throw badRequest("Invalid value specified for property 'id' of resource 'AppRole'.");
    return {
      id,
      value: typeof r.value === "string" ? r.value : "",
      displayName: String(r.displayName ?? ""),
      description: String(r.description ?? ""),
      allowedMemberTypes: Array.isArray(r.allowedMemberTypes) ? r.allowedMemberTypes.map(String) : [],
      isEnabled: r.isEnabled !== false,
      origin: "Application",
    };
  });
  const ids = new Set(roles.map((r) => r.id.toLowerCase()));
  const values = roles.map((r) => r.value).filter((v) => v !== "");
  if (ids.size !== roles.length || new Set(values).size !== values.length)
    throw badRequest("Request contains a property with duplicate values.");
  return roles;
}

/** Graph's rule: an enabled role may be neither removed nor have its value changed; disable it first. */
function checkEnabledRoles(before: AppRoleRecord[], after: AppRoleRecord[]): void {
  for (const old of before) {
    if (!old.isEnabled) continue;
    const next = after.find((r) => r.id.toLowerCase() === old.id.toLowerCase());
    if (!next || next.value !== old.value)
      throw badRequest(
        "Permission (scope or role) cannot be deleted or updated unless disabled first.",
        "CannotDeleteOrUpdateEnabledEntitlement",
      );
  }
}

const WRITABLE = new Set([
  "displayName",
  "identifierUris",
  "appRoles",
  "api",
  "signInAudience",
  "requiredResourceAccess",
]);

/** Applies a POST or PATCH body to `a` (mutating a copy the caller commits only when every check passed). */
function applyBody(rt: Runtime, a: ApplicationRecord, body: Record<string, unknown>): ApplicationRecord {
  for (const k of Object.keys(body))
    if (!WRITABLE.has(k) && !k.startsWith("@odata"))
      throw badRequest(`Property '${k}' does not exist on type 'microsoft.graph.application'.`);
  const next: ApplicationRecord = { ...a };
  if (body.displayName !== undefined) {
    if (typeof body.displayName !== "string" || body.displayName === "")
      throw badRequest("Invalid value specified for property 'displayName' of resource 'Application'.");
    next.displayName = body.displayName;
  }
  if (body.identifierUris !== undefined) {
    if (!Array.isArray(body.identifierUris)) throw badRequest("Invalid value for property 'identifierUris'.");
    checkIdentifierUris(rt, body.identifierUris as string[], a.id);
    next.identifierUris = (body.identifierUris as string[]).slice();
  }
  if (body.appRoles !== undefined) {
    const roles = parseAppRoles(body.appRoles);
    checkEnabledRoles(a.appRoles, roles);
    next.appRoles = roles;
  }
  if (body.api !== undefined) {
    const api = requireObject(body.api, "graph");
    if ("requestedAccessTokenVersion" in api) {
      const v = api.requestedAccessTokenVersion;
      if (v !== null && v !== 1 && v !== 2)
        throw badRequest("Property api.requestedAccessTokenVersion is invalid.");
      next.requestedAccessTokenVersion = v;
    }
  }
  if (body.signInAudience !== undefined) next.signInAudience = String(body.signInAudience);
  if (body.requiredResourceAccess !== undefined) {
    if (!Array.isArray(body.requiredResourceAccess))
      throw badRequest("Invalid value for property 'requiredResourceAccess'.");
    next.requiredResourceAccess = body.requiredResourceAccess as JsonObject[];
  }
  return next;
}

/** The SP mirrors its application's roles and names, as Graph shows them on `/servicePrincipals`. */
function syncServicePrincipal(rt: Runtime, a: ApplicationRecord): void {
  const sp = servicePrincipalOf(rt, a.appId);
  if (!sp) return;
  sp.appRoles = a.appRoles.map((r) => ({ ...r }));
  sp.servicePrincipalNames = [...a.identifierUris, a.appId];
  sp.appDisplayName = a.displayName;
}

export function servicePrincipalOf(rt: Runtime, appId: string): ServicePrincipalRecord | undefined {
  return Object.values(rt.state.servicePrincipals).find((s) => s.appId.toLowerCase() === appId.toLowerCase());
}

/** New application record with the POST example's defaults (application-post-applications.response-201.json). */
export function newApplication(rt: Runtime, init: Partial<ApplicationRecord> = {}): ApplicationRecord {
  return {
    id: newGuid(),
    appId: newGuid(),
    displayName: "",
    identifierUris: [],
    appRoles: [],
    signInAudience: "AzureADandPersonalMicrosoftAccount",
    requestedAccessTokenVersion: 2,
    requiredResourceAccess: [],
    publisherDomain: rt.config.graphPublisherDomain,
    createdDateTime: azureTime(),
    createdAt: rt.now(),
    owners: [],
    deletedDateTime: null,
    deletedAt: null,
    ...init,
  };
}

/** `POST /applications`, shared with the control API's seed (which may pass an owner list and ids). */
export function createApplication(rt: Runtime, body: Record<string, unknown>): ApplicationRecord {
  if (typeof body.displayName !== "string" || body.displayName === "")
    throw badRequest("Invalid value specified for property 'displayName' of resource 'Application'.");
  // With OwnedBy the caller can only ever manage what it owns, so what it creates is owned by it.
  const record = applyBody(rt, newApplication(rt, { owners: [rt.config.graphCaller.objectId] }), body);
  rt.state.applications[record.id.toLowerCase()] = record;
  return record;
}

export function softDeleteApplication(rt: Runtime, a: ApplicationRecord): void {
  a.deletedDateTime = azureTime();
  a.deletedAt = rt.now();
  // Its service principal goes with it, and with the SP every app-role assignment to (and from) it.
  const sp = servicePrincipalOf(rt, a.appId);
  if (sp) deletePrincipal(rt, sp.id);
}

/** `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}` → the id (application-post-owners). */
function refId(body: unknown): string {
  const ref = String(requireObject(body, "graph")["@odata.id"] ?? "");
  const id = /\/([^/]+)\/?$/.exec(ref)?.[1];
  if (!id || !isGuid(id)) throw badRequest("Invalid object identifier '" + ref + "'.", "Request_BadRequest");
  return id;
}

function renderOwner(rt: Runtime, id: string): Record<string, unknown> {
  const p = findPrincipal(rt, id);
  if (!p || p.principalType === "ServicePrincipal") {
    const sp = rt.state.servicePrincipals[id.toLowerCase()];
    return {
      "@odata.type": "#microsoft.graph.servicePrincipal",
      id,
      ...(sp ? { appId: sp.appId, displayName: sp.displayName } : { displayName: null }),
    };
  }
  return {
    "@odata.type": p.principalType === "Group" ? "#microsoft.graph.group" : "#microsoft.graph.user",
    id: p.id,
    displayName: p.displayName,
  };
}

function filterPredicate(filter: string): (a: ApplicationRecord) => boolean {
  const f = filter.trim();
  const str = (s: string) => s.replace(/''/g, "'");
  let m = /^appId\s+eq\s+'((?:[^']|'')*)'$/i.exec(f);
  if (m) return (a) => a.appId.toLowerCase() === str(m![1]!).toLowerCase();
  m = /^identifierUris\/any\((\w+):\s*\1\s+eq\s+'((?:[^']|'')*)'\)$/i.exec(f);
  if (m) return (a) => a.identifierUris.some((u) => u.toLowerCase() === str(m![2]!).toLowerCase());
  m = /^displayName\s+eq\s+'((?:[^']|'')*)'$/i.exec(f);
  if (m) return (a) => a.displayName === str(m![1]!);
  m = /^startswith\(displayName,\s*'((?:[^']|'')*)'\)$/i.exec(f);
  if (m) return (a) => a.displayName.toLowerCase().startsWith(str(m![1]!).toLowerCase());
  throw graphError(
    400,
    "Request_UnsupportedQuery",
    `Unsupported or invalid query filter clause specified for property '${f.split(/[\s(/]/)[0]}' of resource 'Application'.`,
  );
}

/** Single entity with `$select`: the context names the selected properties (application-get-by-appid-select). */
function one(ctx: Ctx, a: ApplicationRecord, status = 200): Reply {
  const sel = ctx.query.get("$select");
  const context = sel
    ? `${GRAPH_METADATA}#applications(${sel
        .split(",")
        .map((s) => s.trim())
        .join(",")})/$entity`
    : ENTITY;
  return { status, body: { "@odata.context": context, ...select(ctx, renderApplication(a)) } };
}

const APP = String.raw`^\/v1\.0\/applications(?:\/([^/()]+)|\(appId='([^']+)'\))`;
const DELETED = String.raw`^\/v1\.0\/directory\/deletedItems`;

const deletedView = (a: ApplicationRecord) => ({
  "@odata.context": `${GRAPH_METADATA}#directoryObjects/$entity`,
  "@odata.type": "#microsoft.graph.application",
  ...renderApplication(a),
});

function deletedApplication(ctx: Ctx, id: string): ApplicationRecord {
  return deletedApplications(ctx.rt).find((a) => a.id.toLowerCase() === id.toLowerCase()) ?? notFound(id);
}

export const applicationRoutes: Route[] = [
  {
    api: "graph",
    method: "POST",
    pattern: /^\/v1\.0\/applications$/i,
    operation: "Applications_Create",
    kind: "write",
    handle: (ctx) => {
      const a = createApplication(ctx.rt, requireObject(ctx.body, "graph"));
      return {
        status: 201,
        headers: {
          Location: `${ctx.baseUrl}/v1.0/directoryObjects/${a.id}/Microsoft.DirectoryServices.Application`,
        },
        body: { "@odata.context": ENTITY, ...renderApplication(a) },
      };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: /^\/v1\.0\/applications$/i,
    operation: "Applications_List",
    kind: "read",
    handle: (ctx) => {
      const filter = ctx.query.get("$filter");
      const pred = filter ? filterPredicate(filter) : () => true;
      const items = liveApplications(ctx.rt)
        .filter(pred)
        .map((a) => select(ctx, renderApplication(a)));
      return { status: 200, body: graphPage(ctx, items, `${GRAPH_METADATA}#applications`) };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: new RegExp(`${APP}$`, "i"),
    operation: "Applications_Get",
    kind: "read",
    handle: (ctx, [id, appId]) => one(ctx, liveApplication(ctx, id, appId)),
  },
  {
    api: "graph",
    method: "PATCH",
    pattern: new RegExp(`${APP}$`, "i"),
    operation: "Applications_Update",
    kind: "write",
    handle: (ctx, [id, appId]) => {
      const a = liveApplication(ctx, id, appId);
      requireWrite(ctx.rt, a);
      const next = applyBody(ctx.rt, a, requireObject(ctx.body, "graph"));
      ctx.rt.state.applications[a.id.toLowerCase()] = next;
      syncServicePrincipal(ctx.rt, next);
      return { status: 204 };
    },
  },
  {
    api: "graph",
    method: "DELETE",
    pattern: new RegExp(`${APP}$`, "i"),
    operation: "Applications_Delete",
    kind: "delete",
    handle: (ctx, [id, appId]) => {
      const a = liveApplication(ctx, id, appId);
      requireWrite(ctx.rt, a);
      softDeleteApplication(ctx.rt, a);
      return { status: 204 };
    },
  },
  {
    api: "graph",
    method: "POST",
    pattern: new RegExp(`${APP}/owners/\\$ref$`, "i"),
    operation: "ApplicationOwners_Add",
    kind: "write",
    handle: (ctx, [id, appId]) => {
      const a = liveApplication(ctx, id, appId);
      // OwnedBy "isn't sufficient to add another owner" (application-post-owners), owner or not.
      if (ctx.rt.config.graphCaller.permission !== "Application.ReadWrite.All")
        throw insufficientPrivileges();
      const ownerId = refId(ctx.body);
      const known =
        findPrincipal(ctx.rt, ownerId) !== undefined ||
        ownerId.toLowerCase() === ctx.rt.config.graphCaller.objectId.toLowerCase();
      if (!known) return notFound(ownerId);
      if (a.owners.some((o) => o.toLowerCase() === ownerId.toLowerCase()))
        throw badRequest(
          "One or more added object references already exist for the following modified properties: 'owners'.",
        );
      a.owners.push(ownerId);
      return { status: 204 };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: new RegExp(`${APP}/owners$`, "i"),
    operation: "ApplicationOwners_List",
    kind: "read",
    handle: (ctx, [id, appId]) => {
      const a = liveApplication(ctx, id, appId);
      const items = a.owners.map((o) => renderOwner(ctx.rt, o));
      return { status: 200, body: graphPage(ctx, items, `${GRAPH_METADATA}#directoryObjects`) };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: new RegExp(`${DELETED}/microsoft\\.graph\\.application$`, "i"),
    operation: "DeletedItems_ListApplications",
    kind: "read",
    handle: (ctx) => {
      const items = deletedApplications(ctx.rt).map((a) => select(ctx, renderApplication(a)));
      return {
        status: 200,
        body: graphPage(ctx, items, `${GRAPH_METADATA}#directory/deletedItems/microsoft.graph.application`),
      };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: new RegExp(`${DELETED}/([^/]+)$`, "i"),
    operation: "DeletedItems_Get",
    kind: "read",
    handle: (ctx, [id]) => ({ status: 200, body: deletedView(deletedApplication(ctx, id!)) }),
  },
  {
    api: "graph",
    method: "POST",
    pattern: new RegExp(`${DELETED}/([^/]+)/restore$`, "i"),
    operation: "DeletedItems_Restore",
    kind: "write",
    handle: (ctx, [id]) => {
      const a = deletedApplication(ctx, id!);
      requireWrite(ctx.rt, a);
      // A live application may have taken an identifier URI meanwhile.
      checkIdentifierUris(ctx.rt, a.identifierUris, a.id);
      a.deletedDateTime = null;
      a.deletedAt = null;
      return { status: 200, body: deletedView(a) };
    },
  },
  {
    api: "graph",
    method: "DELETE",
    pattern: new RegExp(`${DELETED}/([^/]+)$`, "i"),
    operation: "DeletedItems_Delete",
    kind: "delete",
    handle: (ctx, [id]) => {
      const a = deletedApplication(ctx, id!);
      requireWrite(ctx.rt, a);
      delete ctx.rt.state.applications[a.id.toLowerCase()];
      return { status: 204 };
    },
  },
];
