import { azureTime, compactGuid, isGuid, key } from "../ids.ts";
import { armError, page, requireObject, type Ctx, type Reply, type Route } from "../http.ts";
import { findPrincipal, isReplicated } from "../principals.ts";
import type { Runtime } from "../runtime.ts";
import type { JsonObject, RoleAssignmentRecord, RoleDefinitionRecord } from "../state.ts";
import { asObject, requireResourceGroup } from "./common.ts";
import {
  deleteRoleAssignment,
  putRoleAssignment,
  roleAssignmentsOf,
  scopeKeyOf,
} from "./role-assignment-index.ts";
import { BUILT_IN_ROLES } from "./role-catalogue.ts";

const VERSIONS = [
  "2022-04-01",
  "2022-05-01-preview",
  "2020-10-01-preview",
  "2020-04-01-preview",
  "2018-01-01-preview",
  "2015-07-01",
];
const RA_TYPE = "Microsoft.Authorization/roleAssignments";
const RD_TYPE = "Microsoft.Authorization/roleDefinitions";

/** "" and "/" are the root scope; otherwise a leading slash and no trailing one. */
export function normaliseScope(scope: string): string {
  const s = `/${scope.replace(/^\/+|\/+$/g, "")}`;
  return s === "/" ? "/" : s;
}

const atOrBelow = (inner: string, outer: string): boolean => {
  if (outer === "/") return true;
  const i = key(inner);
  const o = key(outer);
  return i === o || i.startsWith(`${o}/`);
};

function subscriptionPrefix(scope: string): string {
  const m = /^\/subscriptions\/[^/]+/i.exec(scope);
  return m ? m[0] : "";
}

/** Role definition ids are subscription-qualified when read within a subscription, tenant-level otherwise. */
export const roleDefinitionId = (scope: string, guid: string): string =>
  `${subscriptionPrefix(scope)}/providers/${RD_TYPE}/${guid}`;

function allRoles(rt: Runtime): RoleDefinitionRecord[] {
  return [...BUILT_IN_ROLES, ...Object.values(rt.state.customRoleDefinitions)];
}

/** A role is usable at a scope when one of its assignableScopes is at or above it. */
function roleAt(rt: Runtime, scope: string, name: string): RoleDefinitionRecord | undefined {
  const r = allRoles(rt).find((d) => d.name.toLowerCase() === name.toLowerCase());
  return r && r.assignableScopes.some((a) => atOrBelow(scope, normaliseScope(a))) ? r : undefined;
}

export function renderRoleDefinition(scope: string, r: RoleDefinitionRecord): JsonObject {
  return {
    properties: {
      roleName: r.roleName,
      type: r.type,
      description: r.description,
      assignableScopes: r.assignableScopes,
      permissions: r.permissions,
      createdOn: r.createdOn,
      updatedOn: r.updatedOn,
      createdBy: null,
      updatedBy: null,
    },
    id: roleDefinitionId(scope, r.name),
    type: RD_TYPE,
    name: r.name,
  };
}

export function renderRoleAssignment(a: RoleAssignmentRecord): JsonObject {
  return {
    properties: {
      roleDefinitionId: roleDefinitionId(a.scope, a.roleDefinitionName),
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      condition: a.condition,
      conditionVersion: a.conditionVersion,
      createdOn: a.createdOn,
      updatedOn: a.updatedOn,
      createdBy: a.createdBy,
      updatedBy: a.updatedBy,
      delegatedManagedIdentityResourceId: a.delegatedManagedIdentityResourceId,
      description: a.description,
    },
    id: `${a.scope === "/" ? "" : a.scope}/providers/${RA_TYPE}/${a.name}`,
    type: RA_TYPE,
    name: a.name,
  };
}

/** Parses the OData subset ARM accepts here: `atScope()`, `principalId eq '…'`, `assignedTo('…')`, joined by `and`. */
function parseAssignmentFilter(filter: string | null): { atScope: boolean; principalId?: string } {
  const out: { atScope: boolean; principalId?: string } = { atScope: false };
  if (!filter) return out;
  for (const clause of filter.split(/\s+and\s+/i)) {
    const c = clause.trim();
    if (/^atScope\(\)$/i.test(c)) out.atScope = true;
    else {
      const m = /^principalId\s+eq\s+'?([^']+?)'?$/i.exec(c) ?? /^assignedTo\('([^']+)'\)$/i.exec(c);
      if (!m) throw armError(400, "InvalidFilterInQueryString", `The filter '${filter}' is not supported.`);
      out.principalId = m[1]!;
    }
  }
  return out;
}

function callerObjectId(ctx: Ctx): string | null {
  const token = /^Bearer\s+(.+)$/i.exec(String(ctx.headers.authorization ?? ""))?.[1] ?? "";
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const oid = (JSON.parse(Buffer.from(payload, "base64url").toString()) as JsonObject).oid;
    return typeof oid === "string" ? oid : null;
  } catch {
    return null;
  }
}

function checkScope(ctx: Ctx, scope: string): void {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)/i.exec(scope);
  if (m) requireResourceGroup(ctx, m[1]!, m[2]!);
}

function principalNotFound(rt: Runtime, principalId: string): never {
  throw armError(
    400,
    "PrincipalNotFound",
    `Principal ${compactGuid(principalId)} does not exist in the directory ${rt.state.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
  );
}

function createAssignment(ctx: Ctx, rawScope: string, name: string): Reply {
  const rt = ctx.rt;
  const scope = normaliseScope(rawScope);
  checkScope(ctx, scope);
  if (!isGuid(name)) {
    throw armError(
      400,
      "InvalidRoleAssignmentId",
      `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`,
    );
  }
  const props = asObject(requireObject(ctx.body, "arm").properties);
  const roleDefinitionIdIn = props.roleDefinitionId;
  const principalId = props.principalId;
  if (typeof roleDefinitionIdIn !== "string" || typeof principalId !== "string") {
    throw armError(
      400,
      "InvalidRequestContent",
      "The request content was invalid: 'roleDefinitionId' and 'principalId' are required.",
    );
  }
  const roleName = roleDefinitionIdIn.split("/").pop() ?? "";
  if (!roleAt(rt, scope, roleName)) {
    throw armError(
      400,
      "RoleDefinitionDoesNotExist",
      `The specified role definition with ID '${roleName}' does not exist.`,
    );
  }
  const principalType = typeof props.principalType === "string" ? props.principalType : undefined;
  const principal = findPrincipal(rt, principalId);
  if (ctx.forcePrincipalNotFound) principalNotFound(rt, principalId);
  // Without principalType ARM looks the principal up in the directory, which may not have replicated yet.
  if (!principalType && (!principal || !isReplicated(rt, principal))) principalNotFound(rt, principalId);

  const now = azureTime();
  const existing = rt.state.roleAssignments[key(name)];
  if (existing) {
    const same =
      key(existing.scope) === key(scope) &&
      existing.roleDefinitionName.toLowerCase() === roleName.toLowerCase() &&
      existing.principalId.toLowerCase() === principalId.toLowerCase();
    if (!same) {
      throw armError(
        400,
        "RoleAssignmentUpdateNotPermitted",
        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
      );
    }
    if (typeof props.description === "string") existing.description = props.description;
    if (typeof props.condition === "string") existing.condition = props.condition;
    if (typeof props.conditionVersion === "string") existing.conditionVersion = props.conditionVersion;
    existing.updatedOn = now;
    existing.updatedBy = callerObjectId(ctx);
    return { status: 200, body: renderRoleAssignment(existing) };
  }
  const clash = roleAssignmentsOf(rt, principalId).find(
    (a) =>
      scopeKeyOf(a) === key(scope) &&
      a.roleDefinitionName.toLowerCase() === roleName.toLowerCase() &&
      a.principalId.toLowerCase() === principalId.toLowerCase(),
  );
  if (clash) {
    throw armError(
      409,
      "RoleAssignmentExists",
      `The role assignment already exists.\nThe ID of the existing role assignment is ${compactGuid(clash.name)}.`,
    );
  }
  const record: RoleAssignmentRecord = {
    name,
    scope,
    roleDefinitionName: roleAt(rt, scope, roleName)!.name,
    principalId,
    principalType: principalType ?? principal?.principalType ?? "User",
    description: typeof props.description === "string" ? props.description : null,
    condition: typeof props.condition === "string" ? props.condition : null,
    conditionVersion: typeof props.conditionVersion === "string" ? props.conditionVersion : null,
    delegatedManagedIdentityResourceId:
      typeof props.delegatedManagedIdentityResourceId === "string"
        ? props.delegatedManagedIdentityResourceId
        : null,
    createdOn: now,
    updatedOn: now,
    createdBy: null,
    updatedBy: callerObjectId(ctx),
  };
  putRoleAssignment(rt, record);
  return { status: 201, body: renderRoleAssignment(record) };
}

function findAssignment(rt: Runtime, scope: string, name: string): RoleAssignmentRecord | undefined {
  const a = rt.state.roleAssignments[key(name)];
  return a && key(a.scope) === key(normaliseScope(scope)) ? a : undefined;
}

/** `inner` is `outer` or below it (both already keys); `startsWith` without building `${outer}/` per record. */
const keyWithin = (inner: string, outer: string): boolean =>
  inner === outer ||
  (inner.length > outer.length && inner.charCodeAt(outer.length) === 47 && inner.startsWith(outer));

/**
 * Filters for list calls: at, above and below the scope by default; at or above with atScope(). Same answer as
 * `atOrBelow` over every assignment, but a principal filter reads the principal's assignments only and scope keys
 * are computed once per record (./role-assignment-index.ts): each page of a subscription's list runs this again.
 */
export function listAssignments(
  rt: Runtime,
  rawScope: string,
  filter: string | null,
): RoleAssignmentRecord[] {
  const scope = normaliseScope(rawScope);
  const f = parseAssignmentFilter(filter);
  const scopeKey = key(scope);
  const candidates = f.principalId
    ? roleAssignmentsOf(rt, f.principalId)
    : Object.values(rt.state.roleAssignments);
  return candidates.filter((a) => {
    const aKey = scopeKeyOf(a);
    const above = a.scope === "/" || keyWithin(scopeKey, aKey);
    if (f.atScope) return above;
    return above || scope === "/" || keyWithin(aKey, scopeKey);
  });
}

function listOperation([scope]: string[]): string {
  const s = normaliseScope(scope ?? "");
  if (/^\/subscriptions\/[^/]+$/i.test(s)) return "RoleAssignments_ListForSubscription";
  if (/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+$/i.test(s))
    return "RoleAssignments_ListForResourceGroup";
  return "RoleAssignments_ListForScope";
}

const common = { api: "arm" as const, resourceType: "roleAssignments", apiVersions: VERSIONS };
const RA_ONE = /^(.*)\/providers\/Microsoft\.Authorization\/roleAssignments\/([^/]+)$/i;
const RD = { api: "arm" as const, resourceType: "roleDefinitions", apiVersions: VERSIONS };

export const authorizationRoutes: Route[] = [
  {
    ...common,
    method: "PUT",
    pattern: RA_ONE,
    operation: "RoleAssignments_Create",
    kind: "write",
    handle: (ctx, [scope, name]) => createAssignment(ctx, scope!, name!),
  },
  {
    ...common,
    method: "GET",
    pattern: RA_ONE,
    operation: "RoleAssignments_Get",
    kind: "read",
    handle: (ctx, [scope, name]) => {
      const a = findAssignment(ctx.rt, scope!, name!);
      if (!a) throw armError(404, "RoleAssignmentNotFound", `The role assignment '${name}' is not found.`);
      return { status: 200, body: renderRoleAssignment(a) };
    },
  },
  {
    ...common,
    method: "DELETE",
    pattern: RA_ONE,
    operation: "RoleAssignments_Delete",
    kind: "delete",
    handle: (ctx, [scope, name]) => {
      const a = findAssignment(ctx.rt, scope!, name!);
      if (!a) return { status: 204 };
      deleteRoleAssignment(ctx.rt, key(a.name));
      return { status: 200, body: renderRoleAssignment(a) };
    },
  },
  {
    ...common,
    method: "GET",
    pattern: /^(.*)\/providers\/Microsoft\.Authorization\/roleAssignments$/i,
    operation: listOperation,
    kind: "read",
    handle: (ctx, [scope]) => {
      checkScope(ctx, normaliseScope(scope!));
      // Rendered after paging: a subscription's list of thousands is otherwise rendered whole for every page.
      const p = page(
        ctx,
        listAssignments(ctx.rt, scope!, ctx.query.get("$filter")),
        ctx.rt.config.armPageSize,
      );
      return { status: 200, body: { ...p, value: p.value.map(renderRoleAssignment) } };
    },
  },
  {
    ...RD,
    method: "GET",
    pattern: /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i,
    operation: "RoleDefinitions_Get",
    kind: "read",
    handle: (ctx, [rawScope, name]) => {
      const scope = normaliseScope(rawScope!);
      const r = roleAt(ctx.rt, scope, name!);
      if (!r)
        throw armError(
          404,
          "RoleDefinitionDoesNotExist",
          `The specified role definition with ID '${name}' does not exist.`,
        );
      return { status: 200, body: renderRoleDefinition(scope, r) };
    },
  },
  {
    ...RD,
    method: "GET",
    pattern: /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions$/i,
    operation: "RoleDefinitions_List",
    kind: "read",
    handle: (ctx, [rawScope]) => {
      const scope = normaliseScope(rawScope!);
      const filter = ctx.query.get("$filter") ?? "";
      const roleName = /roleName\s+eq\s+'([^']*)'/i.exec(filter)?.[1];
      const type = /type\s+eq\s+'([^']*)'/i.exec(filter)?.[1];
      const below = /atScopeAndBelow\(\)/i.test(filter);
      const items = allRoles(ctx.rt)
        .filter((r) =>
          r.assignableScopes.some(
            (a) => atOrBelow(scope, normaliseScope(a)) || (below && atOrBelow(normaliseScope(a), scope)),
          ),
        )
        .filter((r) => !roleName || r.roleName.toLowerCase() === roleName.toLowerCase())
        .filter((r) => !type || r.type.toLowerCase() === type.toLowerCase())
        .map((r) => renderRoleDefinition(scope, r));
      return { status: 200, body: page(ctx, items, ctx.rt.config.armPageSize) };
    },
  },
];
