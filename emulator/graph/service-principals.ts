import { graphError, type Ctx, type Route } from "../http.ts";
import { isReplicated } from "../principals.ts";
import type { ServicePrincipalRecord } from "../state.ts";
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

export const servicePrincipalRoutes: Route[] = [
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
