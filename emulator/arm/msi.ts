import { key } from "../ids.ts";
import { armError, requireObject, resourceNotFound, type Ctx, type Reply, type Route } from "../http.ts";
import { deletePrincipal, mintManagedIdentityPrincipal } from "../principals.ts";
import type { Runtime } from "../runtime.ts";
import type { JsonObject, UserAssignedIdentityRecord } from "../state.ts";
import { RG, SEG, SUB, requireResourceGroup, stringRecord, listInScope } from "./common.ts";

const TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities";
const VERSIONS = ["2024-11-30", "2023-01-31", "2018-11-30"];

/** The MSI resource provider returns ids with lower-case `resourcegroups` (see the spec example). */
export const uamiId = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourcegroups/${rg}/providers/${TYPE}/${name}`;

export function renderUami(rt: Runtime, u: UserAssignedIdentityRecord): JsonObject {
  return {
    name: u.name,
    type: TYPE,
    id: u.id,
    location: u.location,
    properties: {
      clientId: u.clientId,
      isolationScope: "None",
      principalId: u.principalId,
      tenantId: rt.state.tenantId,
    },
    tags: u.tags,
  };
}

/** Creates (with a new principal) or updates a UAMI; its principal is stable for the identity's lifetime. */
export function putUami(
  rt: Runtime,
  sub: string,
  rg: string,
  name: string,
  body: JsonObject,
): { record: UserAssignedIdentityRecord; created: boolean } {
  const id = uamiId(sub, rg, name);
  const existing = rt.state.userAssignedIdentities[key(id)];
  if (existing) {
    if (body.tags !== undefined) existing.tags = stringRecord(body.tags);
    return { record: existing, created: false };
  }
  if (typeof body.location !== "string")
    throw armError(400, "LocationRequired", "The location property is required for this definition.");
  const sp = mintManagedIdentityPrincipal(rt, id, name, true);
  const record: UserAssignedIdentityRecord = {
    id,
    subscriptionId: sub,
    resourceGroup: rg,
    name,
    location: body.location,
    tags: stringRecord(body.tags),
    principalId: sp.id,
    clientId: sp.appId,
  };
  rt.state.userAssignedIdentities[key(id)] = record;
  return { record, created: true };
}

function getUami(ctx: Ctx, sub: string, rg: string, name: string): UserAssignedIdentityRecord {
  requireResourceGroup(ctx, sub, rg);
  const u = ctx.rt.state.userAssignedIdentities[key(uamiId(sub, rg, name))];
  if (!u) throw resourceNotFound(TYPE, name, rg);
  return u;
}

function list(ctx: Ctx, sub: string, rg?: string): Reply {
  return listInScope(ctx, ctx.rt.state.userAssignedIdentities, (r) => renderUami(ctx.rt, r), sub, rg);
}

/** The system-assigned identity of any resource: workflows, sites, or seeded "other" resources. */
function systemIdentityOf(
  rt: Runtime,
  scope: string,
): { name: string; location: string; principalId: string } | undefined {
  const k = key(scope);
  const w = rt.state.workflows[k];
  if (w?.identity.systemPrincipalId)
    return { name: w.name, location: w.location, principalId: w.identity.systemPrincipalId };
  const s = rt.state.sites[k];
  if (s?.identity.systemPrincipalId)
    return { name: s.name, location: s.location, principalId: s.identity.systemPrincipalId };
  const o = rt.state.otherSystemIdentities[k];
  if (o)
    return { name: o.resourceId.split("/").pop() ?? "", location: o.location, principalId: o.principalId };
  return undefined;
}

const common = { api: "arm" as const, resourceType: "userAssignedIdentities", apiVersions: VERSIONS };
const ONE = new RegExp(`^${RG}/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities/${SEG}$`, "i");

export const msiRoutes: Route[] = [
  {
    ...common,
    method: "GET",
    pattern: ONE,
    operation: "UserAssignedIdentities_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => ({
      status: 200,
      body: renderUami(ctx.rt, getUami(ctx, sub!, rg!, name!)),
    }),
  },
  {
    ...common,
    method: "PUT",
    pattern: ONE,
    operation: "UserAssignedIdentities_CreateOrUpdate",
    kind: "write",
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const { record, created } = putUami(ctx.rt, sub!, rg!, name!, requireObject(ctx.body, "arm"));
      return { status: created ? 201 : 200, body: renderUami(ctx.rt, record) };
    },
  },
  {
    ...common,
    method: "PATCH",
    pattern: ONE,
    operation: "UserAssignedIdentities_Update",
    kind: "write",
    handle: (ctx, [sub, rg, name]) => {
      const u = getUami(ctx, sub!, rg!, name!);
      const b = requireObject(ctx.body ?? {}, "arm");
      if (b.tags !== undefined) u.tags = stringRecord(b.tags);
      return { status: 200, body: renderUami(ctx.rt, u) };
    },
  },
  {
    ...common,
    method: "DELETE",
    pattern: ONE,
    operation: "UserAssignedIdentities_Delete",
    kind: "delete",
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const u = ctx.rt.state.userAssignedIdentities[key(uamiId(sub!, rg!, name!))];
      if (!u) return { status: 204 };
      deletePrincipal(ctx.rt, u.principalId);
      delete ctx.rt.state.userAssignedIdentities[key(u.id)];
      return { status: 200 };
    },
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${RG}/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities$`, "i"),
    operation: "UserAssignedIdentities_ListByResourceGroup",
    kind: "read",
    handle: (ctx, [sub, rg]) => list(ctx, sub!, rg!),
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${SUB}/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities$`, "i"),
    operation: "UserAssignedIdentities_ListBySubscription",
    kind: "read",
    handle: (ctx, [sub]) => list(ctx, sub!),
  },
  {
    api: "arm",
    resourceType: "identities",
    apiVersions: VERSIONS,
    method: "GET",
    pattern: /^(.*)\/providers\/Microsoft\.ManagedIdentity\/identities\/default$/i,
    operation: "SystemAssignedIdentities_GetByScope",
    kind: "read",
    handle: (ctx, [scope]) => {
      const found = systemIdentityOf(ctx.rt, scope!);
      if (!found) {
        throw armError(
          404,
          "ResourceNotFound",
          `The system assigned identity of resource '${scope}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
        );
      }
      const sp = ctx.rt.state.servicePrincipals[found.principalId];
      const clientId = sp?.appId ?? "";
      const region = found.location.replace(/\s+/g, "").toLowerCase();
      return {
        status: 200,
        body: {
          id: `${scope}/providers/Microsoft.ManagedIdentity/identities/default`,
          location: found.location,
          name: found.name,
          properties: {
            clientId,
            clientSecretUrl: `https://control-${region}.identity.azure.net${scope}/credentials/v2/identities?tid=${ctx.rt.state.tenantId}&oid=${found.principalId}&aid=${clientId}`,
            principalId: found.principalId,
            tenantId: ctx.rt.state.tenantId,
          },
          tags: {},
          type: "Microsoft.ManagedIdentity/identities",
        },
      };
    },
  },
];
