import { graphError, requireObject, type Ctx, type Route } from "../http.ts";
import { newGuid } from "../ids.ts";
import { isReplicated } from "../principals.ts";
import type { ServicePrincipalRecord } from "../state.ts";
import { insufficientPrivileges, liveApplications, servicePrincipalOf } from "./applications.ts";
import { GRAPH_METADATA, graphPage, select, visibleServicePrincipal } from "./common.ts";

export function renderServicePrincipal(sp: ServicePrincipalRecord): Record<string, unknown> {
  return {
    id: sp.id,
    deletedDateTime: null,
    accountEnabled: true,
    alternativeNames: sp.alternativeNames,
    appDisplayName: sp.appDisplayName ?? (sp.servicePrincipalType === "Application" ? sp.displayName : null),
    appDescription: null,
    appId: sp.appId,
    appOwnerOrganizationId: sp.appOwnerOrganizationId,
    appRoleAssignmentRequired: false,
    description: null,
    displayName: sp.displayName,
    homepage: null,
    loginUrl: null,
    logoutUrl: null,
    notes: null,
    preferredSingleSignOnMode: null,
    publisherName: sp.publisherName ?? null,
    replyUrls: [],
    servicePrincipalNames: sp.servicePrincipalNames,
    servicePrincipalType: sp.servicePrincipalType,
    signInAudience: sp.servicePrincipalType === "Application" ? "AzureADMyOrg" : null,
    tags: [],
    addIns: [],
    appRoles: sp.appRoles,
    info: {
      logoUrl: null,
      marketingUrl: null,
      privacyStatementUrl: null,
      supportUrl: null,
      termsOfServiceUrl: null,
    },
    keyCredentials: [],
    oauth2PermissionScopes: [],
    passwordCredentials: [],
  };
}

const str = (s: string) => s.replace(/''/g, "'");

/** The `$filter` forms Graph supports on servicePrincipals that callers here use. */
function filterPredicate(filter: string): (sp: ServicePrincipalRecord) => boolean {
  const f = filter.trim();
  let m = /^appId\s+eq\s+'((?:[^']|'')*)'$/i.exec(f);
  if (m) return (sp) => sp.appId.toLowerCase() === str(m![1]!).toLowerCase();
  m = /^id\s+eq\s+'((?:[^']|'')*)'$/i.exec(f);
  if (m) return (sp) => sp.id.toLowerCase() === str(m![1]!).toLowerCase();
  m = /^displayName\s+eq\s+'((?:[^']|'')*)'$/i.exec(f);
  if (m) return (sp) => sp.displayName === str(m![1]!);
  m = /^startswith\(displayName,\s*'((?:[^']|'')*)'\)$/i.exec(f);
  if (m) return (sp) => sp.displayName.toLowerCase().startsWith(str(m![1]!).toLowerCase());
  m = /^servicePrincipalNames\/any\((\w+):\s*\1\s+eq\s+'((?:[^']|'')*)'\)$/i.exec(f);
  if (m) return (sp) => sp.servicePrincipalNames.some((n) => n.toLowerCase() === str(m![2]!).toLowerCase());
  m = /^servicePrincipalType\s+eq\s+'((?:[^']|'')*)'$/i.exec(f);
  if (m) return (sp) => sp.servicePrincipalType.toLowerCase() === str(m![1]!).toLowerCase();
  throw graphError(
    400,
    "Request_UnsupportedQuery",
    `Unsupported or invalid query filter clause specified for property '${f.split(/[\s(/]/)[0]}' of resource 'ServicePrincipal'.`,
  );
}

const entityContext = `${GRAPH_METADATA}#servicePrincipals/$entity`;

function one(ctx: Ctx, sp: ServicePrincipalRecord) {
  return {
    status: 200,
    body: { "@odata.context": entityContext, ...select(ctx, renderServicePrincipal(sp)) },
  };
}

/**
 * `POST /servicePrincipals {appId}` (serviceprincipal-post-serviceprincipals.*): the SP copies its application's
 * roles and names. An application younger than `applicationReplicationDelayMs` is not found yet (the race `az ad sp
 * create` right after `az ad app create` hits); an appId that has an SP already gives 409
 * `Request_MultipleObjectsWithSameKeyValue` (the error `az ad sp create` prints for a second create).
 */
function createServicePrincipal(ctx: Ctx): ServicePrincipalRecord {
  const appId = String(requireObject(ctx.body, "graph").appId ?? "");
  const rt = ctx.rt;
  const app = liveApplications(rt).find((a) => a.appId.toLowerCase() === appId.toLowerCase());
  if (!app || rt.now() - app.createdAt < rt.config.applicationReplicationDelayMs) {
    throw graphError(
      400,
      "Request_BadRequest",
      `The appId '${appId}' of the service principal does not reference a valid application object.`,
    );
  }
  const caller = rt.config.graphCaller;
  if (
    caller.permission === "Application.ReadWrite.OwnedBy" &&
    !app.owners.some((o) => o.toLowerCase() === caller.objectId.toLowerCase())
  )
    throw insufficientPrivileges();
  if (servicePrincipalOf(rt, app.appId)) {
    throw graphError(
      409,
      "Request_MultipleObjectsWithSameKeyValue",
      `The service principal cannot be created, updated, or restored because the service principal name ${app.appId} is already in use.`,
    );
  }
  const sp: ServicePrincipalRecord = {
    id: newGuid(),
    appId: app.appId,
    displayName: app.displayName,
    appDisplayName: app.displayName,
    servicePrincipalType: "Application",
    servicePrincipalNames: [...app.identifierUris, app.appId],
    alternativeNames: [],
    appRoles: app.appRoles.map((r) => ({ ...r })),
    appOwnerOrganizationId: rt.state.tenantId,
    // Visible to lookups only after the general replication delay, like every new principal.
    createdAt: rt.now(),
  };
  rt.state.servicePrincipals[sp.id.toLowerCase()] = sp;
  return sp;
}

export const servicePrincipalRoutes: Route[] = [
  {
    api: "graph",
    method: "POST",
    pattern: /^\/v1\.0\/servicePrincipals$/i,
    operation: "ServicePrincipals_Create",
    kind: "write",
    handle: (ctx) => ({
      status: 201,
      body: { "@odata.context": entityContext, ...renderServicePrincipal(createServicePrincipal(ctx)) },
    }),
  },
  {
    api: "graph",
    method: "GET",
    pattern: /^\/v1\.0\/servicePrincipals$/i,
    operation: "ServicePrincipals_List",
    kind: "read",
    handle: (ctx) => {
      const filter = ctx.query.get("$filter");
      const pred = filter ? filterPredicate(filter) : () => true;
      const items = Object.values(ctx.rt.state.servicePrincipals)
        .filter((sp) => isReplicated(ctx.rt, sp) && pred(sp))
        .map((sp) => select(ctx, renderServicePrincipal(sp)));
      return { status: 200, body: graphPage(ctx, items, `${GRAPH_METADATA}#servicePrincipals`) };
    },
  },
  {
    api: "graph",
    method: "GET",
    pattern: /^\/v1\.0\/servicePrincipals\(appId='([^']+)'\)$/i,
    operation: "ServicePrincipals_GetByAppId",
    kind: "read",
    handle: (ctx, [appId]) => one(ctx, visibleServicePrincipal(ctx, { appId: appId! })),
  },
  {
    api: "graph",
    method: "GET",
    pattern: /^\/v1\.0\/servicePrincipals\/([^/()]+)$/i,
    operation: "ServicePrincipals_Get",
    kind: "read",
    handle: (ctx, [id]) => one(ctx, visibleServicePrincipal(ctx, { id: id! })),
  },
];
