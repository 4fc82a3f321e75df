/**
 * The grants the spec wants for the current principal: RBAC role assignments by deterministic name, Graph app-role
 * assignments by (principal, appRoleId). For each: Granted (observed), Pending (being created, or waiting for the
 * identity or for replication), or Failed (a person must fix the spec or the API). Pure.
 */
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type { AppRole, ServicePrincipal } from "../../azure/ports.ts";
import type {
  AppRoleAssignmentStatus,
  LogicAppIdentityBinding,
  RoleAssignmentStatus,
} from "../../api/v1alpha1/index.ts";
import { ownsAppRoleAssignment, ownsRoleAssignment } from "../shared/ownership.ts";
import { eqi, sameRoleDefinition, type Facet } from "./decide-support.ts";
import {
  appRoleKey,
  lostGraphKey,
  lostRbacKey,
  roleKey,
  type BindingAction,
  type BindingNaming,
  type BindingObservation,
} from "./model.ts";

export interface GrantsOutcome<S> {
  statuses: S[];
  /** Problems a person must fix (the first becomes the facet's reason). */
  problems: Facet[];
  /** Spec grants not yet observed for the current principal. */
  pending: number;
  specKeys: Set<string>;
  actions: BindingAction[];
  waitingForReplication: boolean;
  /** AppRole grants only: the API's identifier URI differs from the spec's by a near miss. */
  audienceWarning?: string;
}

export function decideRoleGrants(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  principal: string | undefined,
  naming: BindingNaming,
): GrantsOutcome<RoleAssignmentStatus> {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const meta = binding.metadata;
  const marker = naming.ownershipMarker(meta.namespace ?? "", meta.name, meta.uid ?? "");
  const actions: BindingAction[] = [];
  let waitingForReplication = false;
  const roleStatuses: RoleAssignmentStatus[] = [];
  const roleProblems: Facet[] = [];
  let rolesPending = 0;
  const specRoleKeys = new Set<string>();
  for (const ra of spec.roleAssignments ?? []) {
    const key = roleKey(ra.scope, ra.role);
    specRoleKeys.add(key);
    const o = observed.roles.find((r) => roleKey(r.scope, r.role) === key);
    const prevEntry = (prev.roleAssignments ?? []).find(
      (e) => roleKey(e.scope, e.role) === key && eqi(e.principalId, principal),
    );
    if (o?.problem) {
      roleProblems.push({ ok: false, reason: o.problem.reason, message: o.problem.message });
      roleStatuses.push({ scope: ra.scope, role: ra.role, state: "Failed", message: o.problem.message });
      continue;
    }
    const def = o?.definition;
    if (!def) {
      const message = `role '${ra.role}' does not exist at scope ${ra.scope}`;
      roleProblems.push({ ok: false, reason: "RoleNotFound", message });
      roleStatuses.push({ scope: ra.scope, role: ra.role, state: "Failed", message });
      continue;
    }
    if (!principal) {
      rolesPending++;
      roleStatuses.push({
        scope: ra.scope,
        role: ra.role,
        roleDefinitionId: def.id,
        state: "Pending",
        message: "waiting for the identity",
      });
      continue;
    }
    const name = naming.roleAssignmentName(ra.scope, def.id, principal);
    const found = observed.roleAssignments.find(
      (a) =>
        eqi(a.principalId, principal) &&
        eqi(a.scope, ra.scope) &&
        sameRoleDefinition(a.roleDefinitionId, def.id),
    );
    if (found) {
      roleStatuses.push({
        scope: ra.scope,
        role: ra.role,
        roleDefinitionId: def.id,
        id: found.id,
        principalId: principal,
        state: "Granted",
        // A report: what the marker and the record say, the same test revocation uses.
        ownership: ownsRoleAssignment(
          observed.record,
          { namespace: meta.namespace ?? "", name: meta.name, uid: meta.uid ?? "" },
          found,
        )
          ? "Created"
          : "Adopted",
      });
      continue;
    }
    rolesPending++;
    const redo =
      prevEntry?.state === "Granted" ||
      (observed.lostGrants ?? []).includes(lostRbacKey(ra.scope, def.id, principal));
    const next = notYetGranted(
      observed,
      { scope: ra.scope, role: ra.role, roleDefinitionId: def.id, principalId: principal },
      redo,
      {
        type: "createRoleAssignment",
        key,
        scope: ra.scope,
        name,
        roleDefinitionId: def.id,
        principalId: principal,
        description: marker,
        driftRepair: redo,
      },
    );
    roleStatuses.push(next.status);
    if (next.action) actions.push(next.action);
    waitingForReplication ||= next.replicating;
  }

  return {
    statuses: roleStatuses,
    problems: roleProblems,
    pending: rolesPending,
    specKeys: specRoleKeys,
    actions,
    waitingForReplication,
  };
}

export function decideAppRoleGrants(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  principal: string | undefined,
): GrantsOutcome<AppRoleAssignmentStatus> {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const actions: BindingAction[] = [];
  let waitingForReplication = false;
  const appStatuses: AppRoleAssignmentStatus[] = [];
  const appProblems: Facet[] = [];
  let appPending = 0;
  let audienceWarning: string | undefined;
  const specAppKeys = new Set<string>();
  for (const ar of appRoleGrants(spec)) {
    const key = appRoleKey(ar.api, ar.appRole);
    specAppKeys.add(key);
    const t = appRoleTarget(ar.api, ar.appRole, observed);
    audienceWarning = t.audienceWarning ?? audienceWarning;
    if ("problem" in t) {
      appProblems.push(t.problem);
      appStatuses.push({
        api: ar.api,
        appRole: ar.appRole,
        ...(t.resourceId ? { resourceId: t.resourceId } : {}),
        state: "Failed",
        message: t.problem.message,
      });
      continue;
    }
    const { sp, role } = t;
    if (!principal) {
      appPending++;
      appStatuses.push({
        api: ar.api,
        appRole: ar.appRole,
        resourceId: sp.id,
        appRoleId: role.id,
        state: "Pending",
        message: "waiting for the identity",
      });
      continue;
    }
    const assignments = observed.appRoleAssignments[sp.id.toLowerCase()] ?? [];
    const found = assignments.find((a) => eqi(a.principalId, principal) && eqi(a.appRoleId, role.id));
    const prevEntry = (prev.appRoleAssignments ?? []).find(
      (e) => appRoleKey(e.api, e.appRole) === key && eqi(e.principalId, principal),
    );
    if (found) {
      // Graph assignments carry no name, so ownership is what the record holds (the ID, or the write-ahead
      // intent a crash left behind), or an ID this pass created; never what status says.
      const createdByUs =
        observed.createdAppRoleAssignmentIds.includes(found.id) ||
        ownsAppRoleAssignment(observed.record, found);
      appStatuses.push({
        api: ar.api,
        appRole: ar.appRole,
        resourceId: sp.id,
        appRoleId: role.id,
        id: found.id,
        principalId: principal,
        state: "Granted",
        ownership: createdByUs ? "Created" : "Adopted",
      });
      continue;
    }
    appPending++;
    const redo =
      prevEntry?.state === "Granted" ||
      (observed.lostGrants ?? []).includes(lostGraphKey(sp.id, role.id, principal));
    const next = notYetGranted(
      observed,
      // Intent, recorded before the create is sent (the engine's write-ahead): ownership Created.
      {
        api: ar.api,
        appRole: ar.appRole,
        resourceId: sp.id,
        appRoleId: role.id,
        principalId: principal,
        ownership: "Created" as const,
      },
      redo,
      {
        type: "createAppRoleAssignment",
        key,
        resourceId: sp.id,
        principalId: principal,
        appRoleId: role.id,
        driftRepair: redo,
      },
    );
    appStatuses.push(next.status);
    if (next.action) actions.push(next.action);
    waitingForReplication ||= next.replicating;
  }

  return {
    statuses: appStatuses,
    problems: appProblems,
    pending: appPending,
    specKeys: specAppKeys,
    actions,
    waitingForReplication,
    ...(audienceWarning ? { audienceWarning } : {}),
  };
}

/**
 * A spec grant not yet observed for the current principal: a write deferred earlier in this pass is waited out
 * (its reason says why), otherwise it is asked for.
 */
function notYetGranted<S extends object>(
  observed: BindingObservation,
  entry: S,
  redo: boolean,
  create: BindingAction & { key: string },
): { status: S & { state: "Pending"; message: string }; action?: BindingAction; replicating: boolean } {
  const failure = observed.applyFailures[create.key];
  if (failure) {
    return {
      status: { ...entry, state: "Pending", message: failure.message },
      replicating: failure.reason === "WaitingForPrincipalReplication",
    };
  }
  return {
    status: {
      ...entry,
      state: "Pending",
      message: redo ? "deleted outside the operator; granting again" : "granting",
    },
    action: create,
    replicating: false,
  };
}

/**
 * The API's service principal and the enabled app role the spec names, or the problem a person must fix (access,
 * unknown API, unknown role). A near-miss identifier URI resolves, with a warning: tokens would not match.
 */
export function appRoleTarget(
  api: string,
  appRole: string,
  observed: BindingObservation,
):
  | { sp: ServicePrincipal; role: AppRole; audienceWarning?: string }
  | { problem: Facet & { ok: false }; resourceId?: string; audienceWarning?: string } {
  const o = observed.apis.find((a) => a.api === api);
  if (o?.problem) return { problem: { ok: false, reason: o.problem.reason, message: o.problem.message } };
  const sp = o?.servicePrincipal;
  if (!sp) {
    const message = `no service principal found for API '${api}' (by appId or identifier URI)`;
    return { problem: { ok: false, reason: "ApiNotFound", message } };
  }
  const uri = o.nearMissIdentifierUri;
  const warning = uri
    ? {
        audienceWarning:
          `spec names API '${api}' but its app registration's identifier URI is '${uri}'; ` +
          `tokens requested for '${api}' carry that audience and validate-jwt on '${uri}' ` +
          "rejects them. Use the identifier URI exactly as registered.",
      }
    : {};
  const role = sp.appRoles.find((r) => r.value === appRole && r.isEnabled);
  if (!role) {
    const values = sp.appRoles.filter((r) => r.isEnabled).map((r) => r.value);
    const message =
      `app role '${appRole}' not found on API '${api}' (${sp.displayName}); ` +
      `its app roles are: ${values.length ? values.join(", ") : "(none)"}`;
    return { problem: { ok: false, reason: "AppRoleNotFound", message }, resourceId: sp.id, ...warning };
  }
  return { sp, role, ...warning };
}
