import { appRoleAssignmentId, azureTime, key } from "../ids.ts";
import { graphError, requireObject, type Ctx, type Route } from "../http.ts";
import { findPrincipal, isReplicated } from "../principals.ts";
import type { AppRoleAssignmentRecord, ServicePrincipalRecord } from "../state.ts";
import { GRAPH_METADATA, graphPage, notFound, visibleServicePrincipal } from "./common.ts";

const DEFAULT_APP_ROLE = "00000000-0000-0000-0000-000000000000";

export function renderAppRoleAssignment(a: AppRoleAssignmentRecord): Record<string, unknown> {
  return {
    id: a.id,
    deletedDateTime: null,
    appRoleId: a.appRoleId,
    createdDateTime: a.createdDateTime,
    principalDisplayName: a.principalDisplayName,
    principalId: a.principalId,
    principalType: a.principalType,
    resourceDisplayName: a.resourceDisplayName,
    resourceId: a.resourceId,
  };
}

/** `/servicePrincipals/{id}` or `/servicePrincipals(appId='…')`, as captured by the route patterns. */
const resource = (ctx: Ctx, id: string | undefined, appId: string | undefined): ServicePrincipalRecord =>
  visibleServicePrincipal(ctx, id ? { id } : { appId: appId! });

const PREFIX = String.raw`^\/v1\.0\/servicePrincipals(?:\/([^/()]+)|\(appId='([^']+)'\))\/appRoleAssignedTo`;
const context = (sp: ServicePrincipalRecord) =>
  `${GRAPH_METADATA}#servicePrincipals('${sp.id}')/appRoleAssignedTo`;

/** Creates an app role assignment with Graph's checks; shared with the control API. */
export function createAppRoleAssignment(
  ctx: Ctx,
  sp: ServicePrincipalRecord,
  body: Record<string, unknown>,
): AppRoleAssignmentRecord {
  const principalId = String(body.principalId ?? "");
  const appRoleId = String(body.appRoleId ?? "");
  if (body.resourceId !== undefined && key(String(body.resourceId)) !== key(sp.id)) {
    throw graphError(
      400,
      "Request_BadRequest",
      "The resourceId in the request body does not match the service principal in the URL.",
    );
  }
  const principal = findPrincipal(ctx.rt, principalId);
  if (ctx.forcePrincipalNotFound || !principal || !isReplicated(ctx.rt, principal)) notFound(principalId);
  const role = sp.appRoles.find((r) => key(r.id) === key(appRoleId) && r.isEnabled);
  if (!role && !(appRoleId === DEFAULT_APP_ROLE && sp.appRoles.length === 0)) {
    throw graphError(
      400,
      "Request_BadRequest",
      `Permission being assigned was not found on application '${sp.appId}'.`,
    );
  }
  const dup = Object.values(ctx.rt.state.appRoleAssignments).some(
    (a) =>
      key(a.resourceId) === key(sp.id) &&
      key(a.principalId) === key(principalId) &&
      key(a.appRoleId) === key(appRoleId),
  );
  if (dup)
    throw graphError(400, "Request_BadRequest", "Permission being assigned already exists on the object.");
  const record: AppRoleAssignmentRecord = {
    id: appRoleAssignmentId(principal!.id),
    appRoleId: role?.id ?? DEFAULT_APP_ROLE,
    principalId: principal!.id,
    principalType: principal!.principalType,
    principalDisplayName: principal!.displayName,
    resourceId: sp.id,
    resourceDisplayName: sp.displayName,
    createdDateTime: azureTime(),
  };
  ctx.rt.state.appRoleAssignments[record.id] = record;
  return record;
}

function filterAssignments(ctx: Ctx, items: AppRoleAssignmentRecord[]): AppRoleAssignmentRecord[] {
  const filter = ctx.query.get("$filter");
  if (!filter) return items;
  const m = /^(principalId|resourceId|appRoleId)\s+eq\s+'?([0-9a-f-]+)'?$/i.exec(filter.trim());
  if (!m)
    throw graphError(
      400,
      "Request_UnsupportedQuery",
      `Unsupported or invalid query filter clause specified for property '${filter.split(/\s/)[0]}' of resource 'AppRoleAssignment'.`,
    );
  const prop = m[1]!.toLowerCase() as "principalid" | "resourceid" | "approleid";
  const field = { principalid: "principalId", resourceid: "resourceId", approleid: "appRoleId" }[prop] as
    "principalId" | "resourceId" | "appRoleId";
  return items.filter((a) => key(a[field]) === key(m[2]!));
}

export const appRoleAssignmentRoutes: Route[] = [
  {
    api: "graph",
    method: "POST",
    pattern: new RegExp(`${PREFIX}$`, "i"),
    operation: "AppRoleAssignedTo_Create",
    kind: "write",
    handle: (ctx, [id, appId]) => {
      const sp = resource(ctx, id, appId);
      const record = createAppRoleAssignment(ctx, sp, requireObject(ctx.body, "graph"));
      return {
        status: 201,
        headers: {
          Location: `${ctx.baseUrl}/v1.0/servicePrincipals/${sp.id}/appRoleAssignedTo/${record.id}`,
        },
        body: { "@odata.context": `${context(sp)}/$entity`, ...renderAppRoleAssignment(record) },
      };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: new RegExp(`${PREFIX}$`, "i"),
    operation: "AppRoleAssignedTo_List",
    kind: "read",
    handle: (ctx, [id, appId]) => {
      const sp = resource(ctx, id, appId);
      const spKey = key(sp.id);
      const items = filterAssignments(
        ctx,
        Object.values(ctx.rt.state.appRoleAssignments).filter((a) => key(a.resourceId) === spKey),
      );
      return { status: 200, body: graphPage(ctx, items, context(sp), renderAppRoleAssignment) };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: new RegExp(`${PREFIX}/([^/]+)$`, "i"),
    operation: "AppRoleAssignedTo_Get",
    kind: "read",
    handle: (ctx, [id, appId, assignmentId]) => {
      const sp = resource(ctx, id, appId);
      const a = ctx.rt.state.appRoleAssignments[assignmentId!];
      if (!a || key(a.resourceId) !== key(sp.id)) return notFound(assignmentId!);
      return {
        status: 200,
        body: { "@odata.context": `${context(sp)}/$entity`, ...renderAppRoleAssignment(a) },
      };
    },
  },
  {
    api: "graph",
    method: "DELETE",
    pattern: new RegExp(`${PREFIX}/([^/]+)$`, "i"),
    operation: "AppRoleAssignedTo_Delete",
    kind: "delete",
    handle: (ctx, [id, appId, assignmentId]) => {
      const sp = resource(ctx, id, appId);
      const a = ctx.rt.state.appRoleAssignments[assignmentId!];
      if (!a || key(a.resourceId) !== key(sp.id)) return notFound(assignmentId!);
      delete ctx.rt.state.appRoleAssignments[assignmentId!];
      return { status: 204 };
    },
  },
];
