/**
 * Which grants to revoke: those removed from the spec, the orphans of an old principal (only once the new one holds
 * every grant), or everything on deletion. Only grants this binding owns, decided from Azure and the ownership
 * record (../shared/ownership.ts): a role assignment whose marker names this object (by UID, or by the record for a
 * restored object), a Graph assignment the record lists. Status only says where to look (gather); a status entry,
 * forged or stale, never makes anything ours. Pure.
 */
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type {
  AppRoleAssignmentStatus,
  LogicAppIdentityBinding,
  RoleAssignmentStatus,
} from "../../api/v1alpha1/index.ts";
import type { AppRoleAssignment, RoleAssignment } from "../../azure/ports.ts";
import { ownsAppRoleAssignment, ownsRoleAssignment, type ObjectIdentity } from "../shared/ownership.ts";
import { appRoleTarget } from "./decide-grants.ts";
import { eqi, lastSegment, sameRoleDefinition } from "./decide-support.ts";
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

export const selfOf = (binding: LogicAppIdentityBinding): ObjectIdentity => ({
  namespace: binding.metadata.namespace ?? "",
  name: binding.metadata.name,
  uid: binding.metadata.uid ?? "",
});

/** Only grants this binding owns, among those gather listed. */
export function revocations(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): Revoked {
  const roles = revokeOwnedRoles(binding, observed, ctx);
  const apps = revokeOwnedAppRoles(binding, observed, ctx);
  return {
    actions: [...roles.actions, ...apps.actions],
    roleStatuses: roles.statuses,
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

/** The spec's (scope, role) a live assignment stands for; else status's name for it; else its own IDs. */
function roleNames(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  live: RoleAssignment,
): { scope: string; role: string } {
  for (const r of observed.roles) {
    if (
      r.definition &&
      eqi(r.scope, live.scope) &&
      sameRoleDefinition(r.definition.id, live.roleDefinitionId)
    )
      return { scope: r.scope, role: r.role };
  }
  const e = (binding.status?.roleAssignments ?? []).find((x) => eqi(x.id, live.id));
  return e
    ? { scope: e.scope, role: e.role }
    : { scope: live.scope, role: lastSegment(live.roleDefinitionId) };
}

/** The spec's (api, app role) a live Graph assignment stands for; else status's; else its own IDs. */
function appNames(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  live: AppRoleAssignment,
): { api: string; appRole: string } {
  for (const ar of appRoleGrants(binding.spec)) {
    const t = appRoleTarget(ar.api, ar.appRole, observed);
    if ("sp" in t && eqi(t.sp.id, live.resourceId) && eqi(t.role.id, live.appRoleId))
      return { api: ar.api, appRole: ar.appRole };
  }
  const e = (binding.status?.appRoleAssignments ?? []).find((x) => eqi(x.id, live.id));
  return e ? { api: e.api, appRole: e.appRole } : { api: live.resourceId, appRole: live.appRoleId };
}

/** A status entry as both grant kinds report it: enough to judge it again when Azure no longer shows it. */
interface ReportedGrant {
  id?: string;
  principalId?: string;
  ownership?: string;
  state?: string;
  message?: string;
}

interface Revocation<S> {
  actions: BindingAction[];
  statuses: S[];
}

/**
 * One owned live grant, RBAC or Graph alike: left alone while the spec wants it for the current principal, else
 * kept with a reason or revoked, by the shared verdict.
 */
function judgeLive<S>(
  ctx: RevocationContext,
  out: Revocation<S>,
  grant: { principalId: string; key: string; specKeys: Set<string>; entry: S },
  deletion: (why: Why) => BindingAction,
): void {
  if (isWanted(ctx, grant.principalId, grant.key, grant.specKeys)) return;
  const v = verdict(ctx, grant.principalId, true);
  if ("keep" in v) out.statuses.push({ ...grant.entry, message: v.keep });
  else if ("revoke" in v) {
    out.actions.push(deletion(v.revoke));
    out.statuses.push({ ...grant.entry, message: MESSAGE[v.revoke] });
  }
}

/**
 * A reported grant Azure no longer shows, while the identity is being recreated: kept in the report only, so the
 * heal can say what the old principal held. Nothing is deleted from a status entry.
 */
function keepReported<S extends ReportedGrant>(
  ctx: RevocationContext,
  out: Revocation<S>,
  reported: readonly S[],
  listed: (id: string) => boolean,
  keyOf: (e: S) => string,
  specKeys: Set<string>,
): void {
  for (const e of reported) {
    if (!e.id || !e.principalId || e.ownership !== "Created" || listed(e.id)) continue;
    if (isWanted(ctx, e.principalId, keyOf(e), specKeys)) continue;
    const v = verdict(ctx, e.principalId, false);
    if ("keep" in v) out.statuses.push({ ...e, state: "Revoking", message: v.keep });
  }
}

/** Live role assignments this binding owns (marker ∧ (UID ∨ record)) that the spec no longer wants. */
function revokeOwnedRoles(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): Revocation<RoleAssignmentStatus> {
  const self = selfOf(binding);
  const out: Revocation<RoleAssignmentStatus> = { actions: [], statuses: [] };
  const seen = new Set<string>();
  for (const live of observed.roleAssignments) {
    const id = live.id.toLowerCase();
    if (seen.has(id)) continue;
    seen.add(id);
    if (!ownsRoleAssignment(observed.record, self, live)) continue;
    const { scope, role } = roleNames(binding, observed, live);
    const key = roleKey(scope, role);
    const entry: RoleAssignmentStatus = {
      scope,
      role,
      roleDefinitionId: live.roleDefinitionId,
      id: live.id,
      principalId: live.principalId,
      state: "Revoking",
      ownership: "Created",
    };
    judgeLive(ctx, out, { principalId: live.principalId, key, specKeys: ctx.specRoleKeys, entry }, (why) => ({
      type: "deleteRoleAssignment",
      key,
      id: live.id,
      principalId: live.principalId,
      why,
    }));
  }
  // ARM IDs compare case-insensitively.
  const reported = binding.status?.roleAssignments ?? [];
  keepReported(
    ctx,
    out,
    reported,
    (id) => seen.has(id.toLowerCase()),
    (e) => roleKey(e.scope, e.role),
    ctx.specRoleKeys,
  );
  return out;
}

/** Live Graph assignments the record lists that the spec no longer wants (Graph has no marker: record only). */
function revokeOwnedAppRoles(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  ctx: RevocationContext,
): Revocation<AppRoleAssignmentStatus> {
  const out: Revocation<AppRoleAssignmentStatus> = { actions: [], statuses: [] };
  const seen = new Set<string>();
  for (const list of Object.values(observed.appRoleAssignments)) {
    for (const live of list) {
      if (seen.has(live.id)) continue;
      seen.add(live.id);
      if (!ownsAppRoleAssignment(observed.record, live)) continue;
      const { api, appRole } = appNames(binding, observed, live);
      const key = appRoleKey(api, appRole);
      const entry: AppRoleAssignmentStatus = {
        api,
        appRole,
        resourceId: live.resourceId,
        appRoleId: live.appRoleId,
        id: live.id,
        principalId: live.principalId,
        state: "Revoking",
        ownership: "Created",
      };
      judgeLive(
        ctx,
        out,
        { principalId: live.principalId, key, specKeys: ctx.specAppKeys, entry },
        (why) => ({
          type: "deleteAppRoleAssignment",
          key,
          resourceId: live.resourceId,
          id: live.id,
          principalId: live.principalId,
          why,
        }),
      );
    }
  }
  const reported = binding.status?.appRoleAssignments ?? [];
  keepReported(
    ctx,
    out,
    reported,
    (id) => seen.has(id),
    (e) => appRoleKey(e.api, e.appRole),
    ctx.specAppKeys,
  );
  return out;
}
