/**
 * Managed API connections (`Microsoft.Web/connections`, api-version 2016-06-01) and their access policies.
 * Connections: swagger `specification/web/resource-manager/Microsoft.Web/stable/2016-06-01/logicAppsManagementClient.json`,
 * examples web-connections/connections{Get,List,CreateOrUpdate}.json (wire facts §12).
 * Access policies have no swagger and no example (wire facts §12): their shape is the ARM template resource printed
 * by Learn "Authenticate access and connections … with managed identities" (authenticate-with-managed-identity.md,
 * Standard tab): type `Microsoft.Web/connections/accessPolicies`, name `<connection>/<policy>`, `location`,
 * `properties.principal {type: "ActiveDirectory", identity {objectId, tenantId}}`; the REST path follows from the
 * type and name (`…/connections/{c}/accessPolicies/{p}`), and the Arc article prints api-version 2016-06-01.
 * A GET/LIST answer body is nowhere documented: it is rendered as ARM renders any proxy resource (id, name, type,
 * location, properties as written).
 */
import { azureTime, key } from "../ids.ts";
import { armError, requireObject, resourceNotFound, type Ctx, type Route } from "../http.ts";
import type { Runtime } from "../runtime.ts";
import type { ConnectionAccessPolicyRecord, ConnectionRecord, JsonObject } from "../state.ts";
import { RG, SEG, asObject, listInScope, requireResourceGroup, stringRecord } from "./common.ts";

const TYPE = "Microsoft.Web/connections";
const POLICY_TYPE = "Microsoft.Web/connections/accessPolicies";
// 2018-07-01-preview: what PowerShell `New-AzResource` and third-party Bicep use for V2 connections (wire facts §12).
const VERSIONS = ["2016-06-01", "2018-07-01-preview"];

export const connectionId = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/${TYPE}/${name}`;

/** The catalogue entry of a managed API as a connection shows it; the catalogue itself is not modelled. */
function renderApi(api: JsonObject): JsonObject {
  const id = String(api.id ?? "");
  const name = id.split("/").pop() ?? "";
  return {
    name,
    displayName: name,
    description: "",
    ...api,
    id,
    type: "Microsoft.Web/locations/managedApis",
  };
}

export function renderConnection(c: ConnectionRecord): JsonObject {
  const { parameterValues: _secret, ...rest } = c.properties;
  const properties: JsonObject = {
    displayName: c.name,
    statuses: [{ status: "Connected" }],
    customParameterValues: {},
    ...rest,
    createdTime: c.createdTime,
    changedTime: c.changedTime,
    api: renderApi(asObject(c.properties.api)),
  };
  const out: JsonObject = { properties, id: c.id, name: c.name, type: TYPE, location: c.location };
  if (c.kind) out.kind = c.kind;
  if (Object.keys(c.tags).length > 0) out.tags = c.tags;
  return out;
}

/** Creates or replaces a connection (PUT); its access policies survive an update. */
export function putConnection(
  rt: Runtime,
  sub: string,
  rg: string,
  name: string,
  body: JsonObject,
): { record: ConnectionRecord; created: boolean } {
  const id = connectionId(sub, rg, name);
  const existing = rt.state.connections[key(id)];
  const location = typeof body.location === "string" ? body.location : existing?.location;
  if (!location)
    throw armError(400, "LocationRequired", "The location property is required for this definition.");
  const props = asObject(body.properties);
  if (typeof asObject(props.api).id !== "string")
    throw armError(400, "InvalidRequestContent", "The connection's properties.api.id is required.");
  const now = azureTime();
  const record: ConnectionRecord = {
    id,
    subscriptionId: sub,
    resourceGroup: rg,
    name,
    location,
    ...(typeof body.kind === "string" ? { kind: body.kind } : existing?.kind ? { kind: existing.kind } : {}),
    tags: stringRecord(body.tags),
    // Read-only members a GET→PUT round trip sends back are not kept as written.
    properties: Object.fromEntries(
      Object.entries(props).filter(([k]) => !["createdTime", "changedTime", "statuses"].includes(k)),
    ),
    createdTime: existing?.createdTime ?? now,
    changedTime: now,
    accessPolicies: existing?.accessPolicies ?? {},
  };
  rt.state.connections[key(id)] = record;
  return { record, created: !existing };
}

function getConnection(ctx: Ctx, sub: string, rg: string, name: string): ConnectionRecord {
  requireResourceGroup(ctx, sub, rg);
  const c = ctx.rt.state.connections[key(connectionId(sub, rg, name))];
  if (!c) throw resourceNotFound(TYPE, name, rg);
  return c;
}

export function renderAccessPolicy(c: ConnectionRecord, p: ConnectionAccessPolicyRecord): JsonObject {
  return {
    id: `${c.id}/accessPolicies/${p.name}`,
    name: p.name,
    type: POLICY_TYPE,
    location: p.location,
    properties: { principal: p.principal },
  };
}

/** Validates and stores an access policy; the principal must name an Entra object, as the template requires. */
export function putAccessPolicy(
  c: ConnectionRecord,
  name: string,
  body: JsonObject,
): { record: ConnectionAccessPolicyRecord; created: boolean } {
  const principal = asObject(asObject(body.properties).principal);
  const identity = asObject(principal.identity);
  if (principal.type !== "ActiveDirectory" || typeof identity.objectId !== "string")
    throw armError(
      400,
      "InvalidRequestContent",
      "properties.principal must be {type: 'ActiveDirectory', identity: {objectId, tenantId}}.",
    );
  const existing = c.accessPolicies[name.toLowerCase()];
  const record: ConnectionAccessPolicyRecord = {
    name: existing?.name ?? name,
    location: typeof body.location === "string" ? body.location : c.location,
    principal: { type: principal.type, identity: { ...identity } },
  };
  c.accessPolicies[name.toLowerCase()] = record;
  return { record, created: !existing };
}

const common = { api: "arm" as const, resourceType: "connections", apiVersions: VERSIONS };
const ONE = new RegExp(`^${RG}/providers/Microsoft\\.Web/connections/${SEG}$`, "i");
const POLICIES = new RegExp(`^${RG}/providers/Microsoft\\.Web/connections/${SEG}/accessPolicies$`, "i");
const POLICY = new RegExp(`^${RG}/providers/Microsoft\\.Web/connections/${SEG}/accessPolicies/${SEG}$`, "i");
const policyCommon = { ...common, resourceType: "connections/accessPolicies" };

export const connectionRoutes: Route[] = [
  {
    ...common,
    method: "GET",
    pattern: ONE,
    operation: "Connections_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => ({
      status: 200,
      body: renderConnection(getConnection(ctx, sub!, rg!, name!)),
    }),
  },
  {
    ...common,
    method: "PUT",
    pattern: ONE,
    operation: "Connections_CreateOrUpdate",
    kind: "write",
    // The swagger's descriptions read "200 New API connection created, 201 Already existing API connection updated";
    // ARM's convention (and every other PUT here) is the reverse, and the example's bodies are identical: 201 on create.
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const { record, created } = putConnection(ctx.rt, sub!, rg!, name!, requireObject(ctx.body, "arm"));
      return { status: created ? 201 : 200, body: renderConnection(record) };
    },
  },
  {
    ...common,
    method: "DELETE",
    pattern: ONE,
    operation: "Connections_Delete",
    kind: "delete",
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const k = key(connectionId(sub!, rg!, name!));
      if (!ctx.rt.state.connections[k]) return { status: 204 };
      delete ctx.rt.state.connections[k];
      return { status: 200 };
    },
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${RG}/providers/Microsoft\\.Web/connections$`, "i"),
    operation: "Connections_List",
    kind: "read",
    handle: (ctx, [sub, rg]) => listInScope(ctx, ctx.rt.state.connections, renderConnection, sub!, rg!),
  },
  {
    ...policyCommon,
    method: "GET",
    pattern: POLICIES,
    operation: "ConnectionAccessPolicies_List",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => {
      const c = getConnection(ctx, sub!, rg!, name!);
      return {
        status: 200,
        body: { value: Object.values(c.accessPolicies).map((p) => renderAccessPolicy(c, p)) },
      };
    },
  },
  {
    ...policyCommon,
    method: "GET",
    pattern: POLICY,
    operation: "ConnectionAccessPolicies_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name, policy]) => {
      const c = getConnection(ctx, sub!, rg!, name!);
      const p = c.accessPolicies[policy!.toLowerCase()];
      if (!p) throw resourceNotFound(POLICY_TYPE, `${name}/${policy}`, rg!);
      return { status: 200, body: renderAccessPolicy(c, p) };
    },
  },
  {
    ...policyCommon,
    method: "PUT",
    pattern: POLICY,
    operation: "ConnectionAccessPolicies_CreateOrUpdate",
    kind: "write",
    handle: (ctx, [sub, rg, name, policy]) => {
      const c = getConnection(ctx, sub!, rg!, name!);
      const { record, created } = putAccessPolicy(c, policy!, requireObject(ctx.body, "arm"));
      return { status: created ? 201 : 200, body: renderAccessPolicy(c, record) };
    },
  },
  {
    ...policyCommon,
    method: "DELETE",
    pattern: POLICY,
    operation: "ConnectionAccessPolicies_Delete",
    kind: "delete",
    handle: (ctx, [sub, rg, name, policy]) => {
      const c = getConnection(ctx, sub!, rg!, name!);
      if (!c.accessPolicies[policy!.toLowerCase()]) return { status: 204 };
      delete c.accessPolicies[policy!.toLowerCase()];
      return { status: 200 };
    },
  },
];
