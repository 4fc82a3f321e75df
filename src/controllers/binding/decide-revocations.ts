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
import type { RoleAssignment } from "../../azure/ports.ts";
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

/** Only grants this binding created: recorded as Created, or carrying the deterministic name for a principal. */
export function revocations(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): {
  actions: BindingAction[];
  roleStatuses: RoleAssignmentStatus[];
  appStatuses: AppRoleAssignmentStatus[];
} {
  const prev = binding.status ?? {};
  const actions: BindingAction[] = [];
  const roleStatuses: RoleAssignmentStatus[] = [];
  const appStatuses: AppRoleAssignmentStatus[] = [];
  const seenRoleIds = new Set<string>();

  const isCurrent = (p: string | undefined) => ctx.principal !== undefined && eqi(p, ctx.principal);
  const observedRole = (id: string): RoleAssignment | undefined =>
    observed.roleAssignments.find((a) => eqi(a.id, id));

  // RBAC entries recorded in status.
  for (const e of prev.roleAssignments ?? []) {
    if (!e.id || !e.principalId || e.ownership !== "Created") continue;
    const key = roleKey(e.scope, e.role);
    const wanted = !ctx.deleting && isCurrent(e.principalId) && ctx.specRoleKeys.has(key);
    if (wanted) continue;
    seenRoleIds.add(e.id.toLowerCase());
    const live = observedRole(e.id);
    if (!live) {
      // Gone already: forget it, unless the identity is being recreated right now; then keep the record so
      // the heal can report everything the old principal held.
      if (!ctx.deleting && ctx.principal === undefined)
        roleStatuses.push({ ...e, state: "Revoking", message: "identity being recreated" });
      continue;
    }
    // Belt and braces: the name must be the one we would have given it.
    if (
      e.roleDefinitionId &&
      !eqi(lastSegment(e.id), ctx.naming.roleAssignmentName(e.scope, e.roleDefinitionId, e.principalId))
    ) {
      continue;
    }
    const orphan = !isCurrent(e.principalId);
    if (!ctx.deleting && orphan && !ctx.sweepOrphans) {
      roleStatuses.push({
        ...e,
        state: "Revoking",
        message: "orphaned by a recreated identity; swept once the new principal holds every grant",
      });
      continue;
    }
    const why = ctx.deleting ? "deleted" : orphan ? "orphaned" : "removedFromSpec";
    actions.push({ type: "deleteRoleAssignment", key, id: e.id, principalId: e.principalId, why });
    roleStatuses.push({
      ...e,
      state: "Revoking",
      message:
        why === "removedFromSpec"
          ? "removed from spec"
          : why === "orphaned"
            ? "orphaned by a recreated identity"
            : "binding deleted",
    });
  }

  // RBAC assignments recognisable by deterministic name (status lost, or a crash between create and status write).
  const candidates = ctx.deleting
    ? [...ctx.oldPrincipals, ...(ctx.principal ? [ctx.principal.toLowerCase()] : [])]
    : [...ctx.oldPrincipals];
  if (ctx.deleting || ctx.sweepOrphans) {
    for (const ra of binding.spec.roleAssignments ?? []) {
      const def = observed.roles.find(
        (r) => roleKey(r.scope, r.role) === roleKey(ra.scope, ra.role),
      )?.definition;
      if (!def) continue;
      for (const p of candidates) {
        const name = ctx.naming.roleAssignmentName(ra.scope, def.id, p);
        const live = observed.roleAssignments.find((a) => eqi(a.name, name) && eqi(a.principalId, p));
        if (!live || seenRoleIds.has(live.id.toLowerCase())) continue;
        seenRoleIds.add(live.id.toLowerCase());
        const why = ctx.deleting ? "deleted" : "orphaned";
        actions.push({
          type: "deleteRoleAssignment",
          key: roleKey(ra.scope, ra.role),
          id: live.id,
          principalId: p,
          why,
        });
        roleStatuses.push({
          scope: ra.scope,
          role: ra.role,
          roleDefinitionId: def.id,
          id: live.id,
          principalId: live.principalId,
          state: "Revoking",
          ownership: "Created",
          message: why === "deleted" ? "binding deleted" : "orphaned by a recreated identity",
        });
      }
    }
  }

  // Graph entries recorded in status.
  for (const recorded of prev.appRoleAssignments ?? []) {
    if (!recorded.principalId || !recorded.resourceId || recorded.ownership !== "Created") continue;
    const key = appRoleKey(recorded.api, recorded.appRole);
    const wanted = !ctx.deleting && isCurrent(recorded.principalId) && ctx.specAppKeys.has(key);
    if (wanted) continue;
    const assignments = observed.appRoleAssignments[recorded.resourceId.toLowerCase()];
    // A recorded intent without an ID: the create may have landed before its status write failed.
    const intended =
      recorded.id === undefined && recorded.state === "Pending" && recorded.appRoleId
        ? assignments?.find(
            (a) => eqi(a.principalId, recorded.principalId) && eqi(a.appRoleId, recorded.appRoleId),
          )
        : undefined;
    if (!recorded.id && !intended) continue;
    const e = {
      ...recorded,
      id: recorded.id ?? intended!.id,
      resourceId: recorded.resourceId,
      principalId: recorded.principalId,
    };
    // Unknown (could not read): keep the entry and try next time; gone: forget it.
    if (assignments === undefined) {
      appStatuses.push({ ...e, state: "Revoking", message: "could not read the API's assignments" });
      continue;
    }
    if (!assignments.some((a) => a.id === e.id)) {
      if (!ctx.deleting && ctx.principal === undefined)
        appStatuses.push({ ...e, state: "Revoking", message: "identity being recreated" });
      continue;
    }
    const orphan = !isCurrent(e.principalId);
    if (!ctx.deleting && orphan && !ctx.sweepOrphans) {
      appStatuses.push({
        ...e,
        state: "Revoking",
        message: "orphaned by a recreated identity; swept once the new principal holds every grant",
      });
      continue;
    }
    const why = ctx.deleting ? "deleted" : orphan ? "orphaned" : "removedFromSpec";
    actions.push({
      type: "deleteAppRoleAssignment",
      key,
      resourceId: e.resourceId,
      id: e.id,
      principalId: e.principalId,
      why,
    });
    appStatuses.push({
      ...e,
      state: "Revoking",
      message:
        why === "removedFromSpec"
          ? "removed from spec"
          : why === "orphaned"
            ? "orphaned by a recreated identity"
            : "binding deleted",
    });
  }
  return { actions, roleStatuses, appStatuses };
}
