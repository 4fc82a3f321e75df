/**
 * Which grants to revoke: those removed from the spec, the orphans of an old principal (only once the new one holds
 * every grant), or everything on deletion. Only grants this binding created: recorded as Created, or carrying the
 * deterministic name for a principal; adopted grants are forgotten, never deleted. Pure.
 */
import type {
  AppRoleAssignmentStatus,
  LogicAppIdentityBinding,
  RoleAssignmentStatus,
} from "../../api/v1alpha1/index.ts";
import { eqi, lastSegment } from "./decide-support.ts";
import {
  appRoleKey,
  roleKey,
  type BindingAction,
  type BindingNaming,
  type BindingObservation,
} from "./model.ts";

export interface RevocationContext {
  principal: string | undefined;
  oldPrincipals: Set<string>;
  specRoleKeys: Set<string>;
  specAppKeys: Set<string>;
  /** Orphans of old principals are swept only after the new principal holds every grant. */
  sweepOrphans: boolean;
  deleting: boolean;
  naming: BindingNaming;
}

type Why = "removedFromSpec" | "orphaned" | "deleted";

interface Revoked {
  actions: BindingAction[];
  roleStatuses: RoleAssignmentStatus[];
  appStatuses: AppRoleAssignmentStatus[];
}

/** Only grants this binding created: recorded as Created, or carrying the deterministic name for a principal. */
export function revocations(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): Revoked {
  const recorded = revokeRecordedRoles(binding, observed, ctx);
  const named =
    ctx.deleting || ctx.sweepOrphans ? revokeNamedRoles(binding, observed, ctx, recorded.seenIds) : undefined;
  const apps = revokeRecordedAppRoles(binding, observed, ctx);
  return {
    actions: [...recorded.actions, ...(named?.actions ?? []), ...apps.actions],
    roleStatuses: [...recorded.statuses, ...(named?.statuses ?? [])],
    appStatuses: apps.statuses,
  };
}

const MESSAGE: Record<Why, string> = {
  removedFromSpec: "removed from spec",
  orphaned: "orphaned by a recreated identity",
  deleted: "binding deleted",
};

/**
 * What happens to one recorded grant of ours: kept with a reason, forgotten (gone already), or revoked. Shared by
 * RBAC and Graph so both follow the same rules.
 */
export function verdict(
  ctx: RevocationContext,
  principalId: string,
  live: boolean,
): { keep: string } | { forget: true } | { revoke: Why } {
  // Gone already: forget it, unless the identity is being recreated right now; then keep the record so the heal
  // can report everything the old principal held.
  if (!live)
    return !ctx.deleting && ctx.principal === undefined
      ? { keep: "identity being recreated" }
      : { forget: true };
  const orphan = !(ctx.principal !== undefined && eqi(principalId, ctx.principal));
  if (!ctx.deleting && orphan && !ctx.sweepOrphans) {
    return { keep: "orphaned by a recreated identity; swept once the new principal holds every grant" };
  }
  return { revoke: ctx.deleting ? "deleted" : orphan ? "orphaned" : "removedFromSpec" };
}

const isWanted = (ctx: RevocationContext, principalId: string, key: string, specKeys: Set<string>) =>
  !ctx.deleting && ctx.principal !== undefined && eqi(principalId, ctx.principal) && specKeys.has(key);

/** RBAC entries recorded in status. */
function revokeRecordedRoles(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): { actions: BindingAction[]; statuses: RoleAssignmentStatus[]; seenIds: Set<string> } {
  const actions: BindingAction[] = [];
  const statuses: RoleAssignmentStatus[] = [];
  const seenIds = new Set<string>();
  for (const e of binding.status?.roleAssignments ?? []) {
    if (!e.id || !e.principalId || e.ownership !== "Created") continue;
    const key = roleKey(e.scope, e.role);
    if (isWanted(ctx, e.principalId, key, ctx.specRoleKeys)) continue;
    seenIds.add(e.id.toLowerCase());
    const live = observed.roleAssignments.some((a) => eqi(a.id, e.id));
    // Belt and braces: the name must be the one we would have given it.
    const ours =
      !e.roleDefinitionId ||
      eqi(lastSegment(e.id), ctx.naming.roleAssignmentName(e.scope, e.roleDefinitionId, e.principalId));
    if (live && !ours) continue;
    const v = verdict(ctx, e.principalId, live);
    if ("forget" in v) continue;
    if ("keep" in v) {
      statuses.push({ ...e, state: "Revoking", message: v.keep });
      continue;
    }
    actions.push({ type: "deleteRoleAssignment", key, id: e.id, principalId: e.principalId, why: v.revoke });
    statuses.push({ ...e, state: "Revoking", message: MESSAGE[v.revoke] });
  }
  return { actions, statuses, seenIds };
}

/** RBAC assignments recognisable by deterministic name (status lost, or a crash between create and status write). */
function revokeNamedRoles(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
  seenIds: Set<string>,
): { actions: BindingAction[]; statuses: RoleAssignmentStatus[] } {
  const actions: BindingAction[] = [];
  const statuses: RoleAssignmentStatus[] = [];
  const candidates = ctx.deleting
    ? [...ctx.oldPrincipals, ...(ctx.principal ? [ctx.principal.toLowerCase()] : [])]
    : [...ctx.oldPrincipals];
  const why: Why = ctx.deleting ? "deleted" : "orphaned";
  for (const ra of binding.spec.roleAssignments ?? []) {
    const key = roleKey(ra.scope, ra.role);
    const def = observed.roles.find((r) => roleKey(r.scope, r.role) === key)?.definition;
    if (!def) continue;
    for (const p of candidates) {
      const name = ctx.naming.roleAssignmentName(ra.scope, def.id, p);
      const live = observed.roleAssignments.find((a) => eqi(a.name, name) && eqi(a.principalId, p));
      if (!live || seenIds.has(live.id.toLowerCase())) continue;
      seenIds.add(live.id.toLowerCase());
      actions.push({ type: "deleteRoleAssignment", key, id: live.id, principalId: p, why });
      statuses.push({
        scope: ra.scope,
        role: ra.role,
        roleDefinitionId: def.id,
        id: live.id,
        principalId: live.principalId,
        state: "Revoking",
        ownership: "Created",
        message: MESSAGE[why],
      });
    }
  }
  return { actions, statuses };
}

/** Graph entries recorded in status (by ID, or by intent when the create's status write was lost). */
function revokeRecordedAppRoles(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): { actions: BindingAction[]; statuses: AppRoleAssignmentStatus[] } {
  const actions: BindingAction[] = [];
  const statuses: AppRoleAssignmentStatus[] = [];
  for (const recorded of binding.status?.appRoleAssignments ?? []) {
    if (!recorded.principalId || !recorded.resourceId || recorded.ownership !== "Created") continue;
    const key = appRoleKey(recorded.api, recorded.appRole);
    if (isWanted(ctx, recorded.principalId, key, ctx.specAppKeys)) continue;
    const assignments = observed.appRoleAssignments[recorded.resourceId.toLowerCase()];
    // A recorded intent without an ID: the create may have landed before its status write failed.
    const intended =
      recorded.id === undefined && recorded.state === "Pending" && recorded.appRoleId
        ? assignments?.find(
            (a) => eqi(a.principalId, recorded.principalId) && eqi(a.appRoleId, recorded.appRoleId),
          )
        : undefined;
    const id = recorded.id ?? intended?.id;
    if (!id) continue;
    const e = { ...recorded, id, resourceId: recorded.resourceId, principalId: recorded.principalId };
    // Unknown (could not read): keep the entry and try next time.
    if (assignments === undefined) {
      statuses.push({ ...e, state: "Revoking", message: "could not read the API's assignments" });
      continue;
    }
    const v = verdict(
      ctx,
      e.principalId,
      assignments.some((a) => a.id === id),
    );
    if ("forget" in v) continue;
    if ("keep" in v) {
      statuses.push({ ...e, state: "Revoking", message: v.keep });
      continue;
    }
    actions.push({
      type: "deleteAppRoleAssignment",
      key,
      resourceId: e.resourceId,
      id,
      principalId: e.principalId,
      why: v.revoke,
    });
    statuses.push({ ...e, state: "Revoking", message: MESSAGE[v.revoke] });
  }
  return { actions, statuses };
}
