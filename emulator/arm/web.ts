import { applyIdentity, parseIdentityRequest, releaseIdentity, renderIdentity } from "../identity.ts";
import { key } from "../ids.ts";
import { armError, requireObject, resourceNotFound, type Ctx, type Reply, type Route } from "../http.ts";
import type { Runtime } from "../runtime.ts";
import type { JsonObject, SiteRecord } from "../state.ts";
import { RG, SEG, SUB, asObject, requireResourceGroup, stringRecord, listInScope } from "./common.ts";

const TYPE = "Microsoft.Web/sites";
const VERSIONS = ["2025-05-01", "2025-03-01", "2024-11-01", "2024-04-01", "2023-12-01", "2022-09-01"];
/** A Standard logic app is a site of this kind. */
export const WORKFLOW_APP_KIND = "functionapp,workflowapp";

export const siteId = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/${TYPE}/${name}`;

export function defaultSiteProperties(sub: string, rg: string, name: string): JsonObject {
  const host = `${name.toLowerCase()}.azurewebsites.net`;
  return {
    state: "Running",
    hostNames: [host],
    repositorySiteName: name,
    usageState: "Normal",
    enabled: true,
    enabledHostNames: [host, `${name.toLowerCase()}.scm.azurewebsites.net`],
    availabilityState: "Normal",
    serverFarmId: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Web/serverfarms/${name}-plan`,
    reserved: false,
    lastModifiedTimeUtc: new Date().toISOString(),
    resourceGroup: rg,
    defaultHostName: host,
    httpsOnly: true,
    keyVaultReferenceIdentity: "SystemAssigned",
  };
}

export function renderSite(rt: Runtime, s: SiteRecord): JsonObject {
  const out: JsonObject = { id: s.id, name: s.name, type: TYPE, kind: s.kind, location: s.location };
  if (Object.keys(s.tags).length > 0) out.tags = s.tags;
  out.properties = s.properties;
  const identity = renderIdentity(rt, s.identity);
  if (identity) out.identity = identity;
  return out;
}

function getSite(ctx: Ctx, sub: string, rg: string, name: string): SiteRecord {
  requireResourceGroup(ctx, sub, rg);
  const s = ctx.rt.state.sites[key(siteId(sub, rg, name))];
  if (!s) throw resourceNotFound(TYPE, name, rg);
  return s;
}

/** Creates or replaces a site (PUT semantics; an absent `identity` keeps the current one). */
export function putSite(
  rt: Runtime,
  sub: string,
  rg: string,
  name: string,
  body: JsonObject,
): { record: SiteRecord; created: boolean } {
  const id = siteId(sub, rg, name);
  const existing = rt.state.sites[key(id)];
  const location = typeof body.location === "string" ? body.location : existing?.location;
  if (!location)
    throw armError(400, "LocationRequired", "The location property is required for this definition.");
  const record: SiteRecord = existing ?? {
    id,
    subscriptionId: sub,
    resourceGroup: rg,
    name,
    location,
    kind: WORKFLOW_APP_KIND,
    tags: {},
    properties: defaultSiteProperties(sub, rg, name),
    identity: { userAssignedIds: [] },
  };
  const req = parseIdentityRequest(body.identity);
  const identity = req
    ? applyIdentity(rt, id, name, record.identity, req, "Standard", false)
    : record.identity;
  record.identity = identity;
  if (typeof body.kind === "string") record.kind = body.kind;
  record.tags = stringRecord(body.tags);
  record.properties = {
    ...record.properties,
    ...asObject(body.properties),
    lastModifiedTimeUtc: new Date().toISOString(),
  };
  rt.state.sites[key(id)] = record;
  return { record, created: !existing };
}

function list(ctx: Ctx, sub: string, rg?: string): Reply {
  return listInScope(ctx, ctx.rt.state.sites, (r) => renderSite(ctx.rt, r), sub, rg);
}

const common = { api: "arm" as const, resourceType: "sites", apiVersions: VERSIONS };
const ONE = new RegExp(`^${RG}/providers/Microsoft\\.Web/sites/${SEG}$`, "i");

export const webRoutes: Route[] = [
  {
    ...common,
    method: "GET",
    pattern: ONE,
    operation: "WebApps_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => ({
      status: 200,
      body: renderSite(ctx.rt, getSite(ctx, sub!, rg!, name!)),
    }),
  },
  {
    ...common,
    method: "PATCH",
    pattern: ONE,
    operation: "WebApps_Update",
    kind: "write",
    handle: (ctx, [sub, rg, name]) => {
      const s = getSite(ctx, sub!, rg!, name!);
      const b = requireObject(ctx.body ?? {}, "arm");
      const req = parseIdentityRequest(b.identity);
      if (req) s.identity = applyIdentity(ctx.rt, s.id, s.name, s.identity, req, "Standard", true);
      if (typeof b.kind === "string") s.kind = b.kind;
      if (b.properties !== undefined) s.properties = { ...s.properties, ...asObject(b.properties) };
      s.properties.lastModifiedTimeUtc = new Date().toISOString();
      return { status: 200, body: renderSite(ctx.rt, s) };
    },
  },
  {
    ...common,
    method: "PUT",
    pattern: ONE,
    operation: "WebApps_CreateOrUpdate",
    kind: "write",
    // An LRO in the SDK; answering 200 with the final body completes the poller at once, as App Service does.
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const { record } = putSite(ctx.rt, sub!, rg!, name!, requireObject(ctx.body, "arm"));
      return { status: 200, body: renderSite(ctx.rt, record) };
    },
  },
  {
    ...common,
    method: "DELETE",
    pattern: ONE,
    operation: "WebApps_Delete",
    kind: "delete",
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const s = ctx.rt.state.sites[key(siteId(sub!, rg!, name!))];
      if (!s) return { status: 204 };
      releaseIdentity(ctx.rt, s.identity);
      delete ctx.rt.state.sites[key(s.id)];
      return { status: 200 };
    },
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${RG}/providers/Microsoft\\.Web/sites$`, "i"),
    operation: "WebApps_ListByResourceGroup",
    kind: "read",
    handle: (ctx, [sub, rg]) => list(ctx, sub!, rg!),
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${SUB}/providers/Microsoft\\.Web/sites$`, "i"),
    operation: "WebApps_List",
    kind: "read",
    handle: (ctx, [sub]) => list(ctx, sub!),
  },
];
