/**
 * The binding reconciler's brain: given the object and what Azure looks like now, which writes bring Azure to the
 * spec, and what status describes the result. Pure: no I/O, no clock (the caller passes `now`), no SDK.
 *
 * Rules, in the order a pass applies them:
 * 1. Identity first: a grant needs a principal. Consumption apps hold one identity kind; a conflicting one is a
 *    Stalled condition, never a flip-flop. Standard apps keep every other identity they have.
 * 2. Grants for the current principal: RBAC by deterministic name, Graph app roles by (principal, appRoleId).
 * 3. Heal: the principal differs from status.principalId → grant everything to the new principal, then sweep the
 *    old principal's grants that this binding created (tracked in status, or recognisable by deterministic name).
 * 4. Revoke only what this binding created (ownership Created); adopted grants are forgotten, never deleted.
 */
import {
  ConditionType,
  FINALIZER,
  findCondition,
  removeCondition,
  setCondition,
  type AppRoleAssignmentStatus,
  type BindingStatus,
  type Condition,
  type LogicAppIdentityBinding,
  type RoleAssignmentStatus,
} from "../../api/v1alpha1/index.ts";
import { ownershipMarker, roleAssignmentName } from "../../azure/naming.ts";
import type { DesiredIdentity, ManagedIdentityType, RoleAssignment } from "../../azure/ports.ts";
import { appRoleKey, roleKey, type BindingAction, type BindingObservation } from "./model.ts";

export interface BindingEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export interface BindingDecision {
  actions: BindingAction[];
  status: BindingStatus;
  /** Events for what this pass found (heals, stalls); apply adds one per successful write. */
  events: BindingEvent[];
  /** Shorter than the resync interval while waiting on Azure (replication, identity being created). */
  requeueAfterMs?: number;
  /** True when the object's own problems need a person (Stalled). */
  stalled: boolean;
}

export interface DecideOptions {
  now: string;
  /** Poll interval while waiting for a fresh principal to replicate. */
  replicationPollMs?: number;
}

const STALLED_REASONS = new Set([
  "LogicAppNotFound",
  "IdentityNotFound",
  "IdentityConflict",
  "RoleNotFound",
  "InvalidScope",
  "AccessDenied",
  "ApiNotFound",
  "AppRoleNotFound",
]);

interface Facet {
  ok: boolean;
  reason: string;
  message: string;
}

const eqi = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/** Role definition IDs may come with or without the subscription prefix; the GUID identifies the role. */
const sameRoleDefinition = (a: string, b: string) => eqi(a.split("/").pop(), b.split("/").pop());

const lastSegment = (id: string) => id.split("/").pop() ?? id;

export function decide(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  options: DecideOptions,
): BindingDecision {
  const deleting = binding.metadata.deletionTimestamp !== undefined;
  return deleting ? decideDeletion(binding, observed, options) : decideConverge(binding, observed, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Identity

interface IdentityOutcome {
  facet: Facet;
  action?: BindingAction;
  principalId?: string;
  tenantId?: string;
  clientId?: string;
  identityType?: string;
  enabledByOperator?: boolean;
}

function hasSystem(t: ManagedIdentityType): boolean {
  return t === "SystemAssigned" || t === "SystemAssigned, UserAssigned";
}

function decideIdentity(binding: LogicAppIdentityBinding, observed: BindingObservation): IdentityOutcome {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const la = observed.logicApp;
  if (!la.exists) {
    return {
      facet: {
        ok: false,
        reason: "LogicAppNotFound",
        message: `Logic App ${spec.logicAppId} does not exist`,
      },
    };
  }
  const obs = la.identity;
  const uaIds = obs.userAssigned.map((u) => u.id);
  const consumption = la.kind === "Consumption";

  if (spec.identity.type === "SystemAssigned") {
    if (hasSystem(obs.type) && obs.principalId) {
      return {
        facet: { ok: true, reason: "IdentityReady", message: `system-assigned identity ${obs.principalId}` },
        principalId: obs.principalId,
        tenantId: obs.tenantId,
        identityType: "SystemAssigned",
        enabledByOperator: prev.identityEnabledByOperator ?? false,
      };
    }
    // The user-assigned identity this binding used before the spec moved to SystemAssigned is ours to detach
    // (detaching deletes nothing); any other is someone else's.
    const ourPreviousIdentity =
      prev.identityType === "UserAssigned" &&
      obs.userAssigned.some((u) => eqi(u.principalId, prev.principalId));
    if (consumption && obs.type === "UserAssigned" && !ourPreviousIdentity) {
      return {
        facet: {
          ok: false,
          reason: "IdentityConflict",
          message:
            `Logic App ${spec.logicAppId} uses user-assigned identity ${uaIds.join(", ")}; a Consumption Logic App holds ` +
            "one identity at a time, and enabling the system-assigned one would detach it. Set spec.identity to " +
            "UserAssigned with that ID, or detach it first.",
        },
      };
    }
    const desired: DesiredIdentity =
      consumption || uaIds.length === 0
        ? { type: "SystemAssigned", userAssignedIdentityIds: [] }
        : { type: "SystemAssigned, UserAssigned", userAssignedIdentityIds: uaIds };
    // The identity was there before (status has a principal): someone turned it off. Otherwise this binding is
    // the one turning it on, and deletion should turn it off again.
    const drift = prev.principalId !== undefined && prev.identityType !== "UserAssigned";
    return {
      facet: {
        ok: false,
        reason: "EnablingIdentity",
        message: drift
          ? `system-assigned identity was turned off (was ${prev.principalId}); turning it back on`
          : "turning on the system-assigned identity",
      },
      action: {
        type: "setIdentity",
        desired,
        expectedVersion: la.version,
        why: drift ? "driftRepair" : "enable",
      },
      enabledByOperator: drift ? (prev.identityEnabledByOperator ?? false) : true,
    };
  }

  // UserAssigned
  const wantedId = spec.identity.userAssignedIdentityId ?? "";
  const uami = observed.userAssignedIdentity;
  if (!uami?.exists) {
    return {
      facet: {
        ok: false,
        reason: "IdentityNotFound",
        message: `user-assigned identity ${wantedId} does not exist`,
      },
    };
  }
  const attached = obs.userAssigned.find((u) => eqi(u.id, wantedId));
  if (attached && (obs.type === "UserAssigned" || obs.type === "SystemAssigned, UserAssigned")) {
    const principalId = attached.principalId ?? uami.principalId;
    return {
      facet: { ok: true, reason: "IdentityReady", message: `user-assigned identity ${principalId}` },
      principalId,
      tenantId: uami.tenantId,
      clientId: attached.clientId ?? uami.clientId,
      identityType: "UserAssigned",
      enabledByOperator: false,
    };
  }
  // A system-assigned identity this binding turned on is ours to replace when the spec moves to a user-assigned
  // one; any other is someone else's, and replacing it would delete a principal they may rely on.
  if (consumption && hasSystem(obs.type) && prev.identityEnabledByOperator !== true) {
    return {
      facet: {
        ok: false,
        reason: "IdentityConflict",
        message:
          `Logic App ${spec.logicAppId} has a system-assigned identity (${obs.principalId ?? "unknown"}); a Consumption ` +
          "Logic App holds one identity at a time, and attaching the user-assigned one would delete that principal. " +
          "Set spec.identity to SystemAssigned, or turn the system-assigned identity off first.",
      },
    };
  }
  const desired: DesiredIdentity = consumption
    ? { type: "UserAssigned", userAssignedIdentityIds: [wantedId] }
    : {
        type: hasSystem(obs.type) ? "SystemAssigned, UserAssigned" : "UserAssigned",
        userAssignedIdentityIds: [...uaIds, wantedId],
      };
  const drift = prev.principalId !== undefined && prev.identityType !== "SystemAssigned";
  return {
    facet: {
      ok: false,
      reason: "AttachingIdentity",
      message: drift
        ? `user-assigned identity ${wantedId} was detached; attaching it again`
        : `attaching user-assigned identity ${wantedId}`,
    },
    action: {
      type: "setIdentity",
      desired,
      expectedVersion: la.version,
      why: drift ? "driftRepair" : "attach",
    },
    enabledByOperator: false,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Converge

function decideConverge(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  options: DecideOptions,
): BindingDecision {
  const { now } = options;
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const meta = binding.metadata;
  const marker = ownershipMarker(meta.namespace ?? "", meta.name, meta.uid ?? "");
  const actions: BindingAction[] = [];
  const events: BindingEvent[] = [];
  let waitingForReplication = false;

  const identity = decideIdentity(binding, observed);
  if (identity.action) actions.push(identity.action);
  const principal = identity.principalId;

  // A principal that differs from the recorded one means the identity was recreated: heal.
  const previousPrincipal = prev.principalId;
  const healing =
    principal !== undefined && previousPrincipal !== undefined && !eqi(principal, previousPrincipal);
  const oldPrincipals = new Set<string>();
  for (const e of [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])]) {
    if (e.principalId && principal && !eqi(e.principalId, principal))
      oldPrincipals.add(e.principalId.toLowerCase());
  }
  if (healing) oldPrincipals.add(previousPrincipal.toLowerCase());
  if (prev.lastHeal && principal && !eqi(prev.lastHeal.previousPrincipalId, principal)) {
    oldPrincipals.add(prev.lastHeal.previousPrincipalId.toLowerCase());
  }

  // ---- RBAC for the current principal
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
    const name = roleAssignmentName(ra.scope, def.id, principal);
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
        ownership: eqi(found.name, name) ? "Created" : "Adopted",
      });
      continue;
    }
    rolesPending++;
    const failure = observed.applyFailures[key];
    if (failure) {
      if (failure.reason === "WaitingForPrincipalReplication") waitingForReplication = true;
      roleStatuses.push({
        scope: ra.scope,
        role: ra.role,
        roleDefinitionId: def.id,
        principalId: principal,
        state: "Pending",
        message: failure.message,
      });
      continue;
    }
    actions.push({
      type: "createRoleAssignment",
      key,
      scope: ra.scope,
      name,
      roleDefinitionId: def.id,
      principalId: principal,
      description: marker,
      driftRepair: prevEntry?.state === "Granted",
    });
    roleStatuses.push({
      scope: ra.scope,
      role: ra.role,
      roleDefinitionId: def.id,
      principalId: principal,
      state: "Pending",
      message: prevEntry?.state === "Granted" ? "deleted outside the operator; granting again" : "granting",
    });
  }

  // ---- Graph app roles for the current principal
  const appStatuses: AppRoleAssignmentStatus[] = [];
  const appProblems: Facet[] = [];
  let appPending = 0;
  let audienceWarning: string | undefined;
  const specAppKeys = new Set<string>();
  for (const ar of spec.appRoleAssignments ?? []) {
    const key = appRoleKey(ar.api, ar.appRole);
    specAppKeys.add(key);
    const o = observed.apis.find((a) => a.api === ar.api);
    if (o?.problem) {
      appProblems.push({ ok: false, reason: o.problem.reason, message: o.problem.message });
      appStatuses.push({ api: ar.api, appRole: ar.appRole, state: "Failed", message: o.problem.message });
      continue;
    }
    const sp = o?.servicePrincipal;
    if (!sp) {
      const message = `no service principal found for API '${ar.api}' (by appId or identifier URI)`;
      appProblems.push({ ok: false, reason: "ApiNotFound", message });
      appStatuses.push({ api: ar.api, appRole: ar.appRole, state: "Failed", message });
      continue;
    }
    if (o.nearMissIdentifierUri) {
      audienceWarning =
        `spec names API '${ar.api}' but its app registration's identifier URI is '${o.nearMissIdentifierUri}'; ` +
        `tokens requested for '${ar.api}' carry that audience and validate-jwt on '${o.nearMissIdentifierUri}' ` +
        "rejects them. Use the identifier URI exactly as registered.";
    }
    const role = sp.appRoles.find((r) => r.value === ar.appRole && r.isEnabled);
    if (!role) {
      const values = sp.appRoles.filter((r) => r.isEnabled).map((r) => r.value);
      const message =
        `app role '${ar.appRole}' not found on API '${ar.api}' (${sp.displayName}); ` +
        `its app roles are: ${values.length ? values.join(", ") : "(none)"}`;
      appProblems.push({ ok: false, reason: "AppRoleNotFound", message });
      appStatuses.push({ api: ar.api, appRole: ar.appRole, resourceId: sp.id, state: "Failed", message });
      continue;
    }
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
      // Graph assignments carry no name, so ownership is what we recorded: the ID we created, or the intent
      // written to status before creating (a pass whose final status write failed still knows it was ours).
      const createdByUs =
        observed.createdAppRoleAssignmentIds.includes(found.id) ||
        (prevEntry?.ownership === "Created" &&
          (prevEntry.id === found.id || (prevEntry.id === undefined && prevEntry.state === "Pending")));
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
    const failure = observed.applyFailures[key];
    if (failure) {
      if (failure.reason === "WaitingForPrincipalReplication") waitingForReplication = true;
      appStatuses.push({
        api: ar.api,
        appRole: ar.appRole,
        resourceId: sp.id,
        appRoleId: role.id,
        principalId: principal,
        state: "Pending",
        ownership: "Created",
        message: failure.message,
      });
      continue;
    }
    actions.push({
      type: "createAppRoleAssignment",
      key,
      resourceId: sp.id,
      principalId: principal,
      appRoleId: role.id,
      driftRepair: prevEntry?.state === "Granted",
    });
    appStatuses.push({
      api: ar.api,
      appRole: ar.appRole,
      resourceId: sp.id,
      appRoleId: role.id,
      principalId: principal,
      state: "Pending",
      // Intent, recorded before the create is sent (see converge's beforeWrites).
      ownership: "Created",
      message: prevEntry?.state === "Granted" ? "deleted outside the operator; granting again" : "granting",
    });
  }

  // ---- Revocations: grants removed from the spec, and orphans of old principals (only once the new ones hold).
  const allGranted = principal !== undefined && rolesPending === 0 && appPending === 0;
  const revoked = revocations(binding, observed, {
    principal,
    oldPrincipals,
    specRoleKeys,
    specAppKeys,
    sweepOrphans: allGranted,
    deleting: false,
  });
  actions.push(...revoked.actions);
  roleStatuses.push(...revoked.roleStatuses);
  appStatuses.push(...revoked.appStatuses);

  // ---- Conditions
  const gen = meta.generation;
  const rolesFacet: Facet =
    roleProblems[0] ??
    (rolesPending > 0
      ? waitingForReplication &&
        roleStatuses.some((s) => s.state === "Pending" && s.message?.includes("replicat"))
        ? {
            ok: false,
            reason: "WaitingForPrincipalReplication",
            message: "the new identity is not yet visible to Azure RBAC; retrying",
          }
        : {
            ok: false,
            reason: principal ? "Granting" : "WaitingForIdentity",
            message: `${rolesPending} role assignment(s) pending`,
          }
      : {
          ok: true,
          reason: "AllGranted",
          message: `${roleStatuses.filter((s) => s.state === "Granted").length} role assignment(s) in effect`,
        });
  const appFacet: Facet =
    appProblems[0] ??
    (appPending > 0
      ? waitingForReplication &&
        appStatuses.some((s) => s.state === "Pending" && s.message?.includes("replicat"))
        ? {
            ok: false,
            reason: "WaitingForPrincipalReplication",
            message: "the new identity is not yet visible to Microsoft Graph; retrying",
          }
        : {
            ok: false,
            reason: principal ? "Granting" : "WaitingForIdentity",
            message: `${appPending} app role assignment(s) pending`,
          }
      : {
          ok: true,
          reason: "AllGranted",
          message: `${appStatuses.filter((s) => s.state === "Granted").length} app role assignment(s) in effect`,
        });

  let conditions: Condition[] = [...(prev.conditions ?? [])];
  const put = (type: string, f: Facet) =>
    (conditions = setCondition(
      conditions,
      {
        type,
        status: f.ok ? "True" : "False",
        reason: f.reason,
        message: f.message,
        observedGeneration: gen,
      },
      now,
    ));
  put(ConditionType.IdentityReady, identity.facet);
  put(ConditionType.RoleAssignmentsReady, rolesFacet);
  put(ConditionType.AppRoleAssignmentsReady, appFacet);

  const facets = [identity.facet, rolesFacet, appFacet];
  const firstBad = facets.find((f) => !f.ok);
  const stalledFacet = facets.find((f) => !f.ok && STALLED_REASONS.has(f.reason));
  put(
    ConditionType.Ready,
    firstBad ?? { ok: true, reason: "Ready", message: "identity and every grant are in effect in Azure" },
  );
  const converging = actions.length > 0 || (firstBad !== undefined && !stalledFacet);
  conditions = setCondition(
    conditions,
    stalledFacet
      ? {
          type: ConditionType.Stalled,
          status: "True",
          reason: stalledFacet.reason,
          message: stalledFacet.message,
          observedGeneration: gen,
        }
      : {
          type: ConditionType.Stalled,
          status: "False",
          reason: "NotStalled",
          message: "",
          observedGeneration: gen,
        },
    now,
  );
  conditions = setCondition(
    conditions,
    converging
      ? {
          type: ConditionType.Reconciling,
          status: "True",
          reason: firstBad?.reason ?? "Revoking",
          message: firstBad?.message ?? "revoking grants no longer wanted",
          observedGeneration: gen,
        }
      : {
          type: ConditionType.Reconciling,
          status: "False",
          reason: "Converged",
          message: "",
          observedGeneration: gen,
        },
    now,
  );
  conditions = audienceWarning
    ? setCondition(
        conditions,
        {
          type: ConditionType.AudienceWarning,
          status: "True",
          reason: "IdentifierUriMismatch",
          message: audienceWarning,
          observedGeneration: gen,
        },
        now,
      )
    : removeCondition(conditions, ConditionType.AudienceWarning);

  // ---- Heal record
  let lastHeal = prev.lastHeal;
  if (healing) {
    const moved = [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])].filter(
      (e) => eqi(e.principalId, previousPrincipal) && e.ownership === "Created",
    ).length;
    lastHeal = {
      previousPrincipalId: previousPrincipal,
      principalId: principal,
      time: now,
      regranted: (spec.roleAssignments?.length ?? 0) + (spec.appRoleAssignments?.length ?? 0),
      swept: moved,
    };
    events.push({
      type: "Warning",
      reason: "IdentityRecreated",
      note: `principal changed from ${previousPrincipal} to ${principal}; granting ${lastHeal.regranted} grant(s) to the new principal and sweeping ${moved} orphaned grant(s)`,
    });
  }

  const desiredCount = (spec.roleAssignments?.length ?? 0) + (spec.appRoleAssignments?.length ?? 0);
  const grantedCount =
    roleStatuses.filter((s) => s.state === "Granted" && specRoleKeys.has(roleKey(s.scope, s.role))).length +
    appStatuses.filter((s) => s.state === "Granted" && specAppKeys.has(appRoleKey(s.api, s.appRole))).length;

  const status: BindingStatus = {
    observedGeneration: gen,
    ...(identity.identityType ? { identityType: identity.identityType } : {}),
    ...(principal ? { principalId: principal } : prev.principalId ? { principalId: prev.principalId } : {}),
    ...(identity.tenantId
      ? { tenantId: identity.tenantId }
      : prev.tenantId
        ? { tenantId: prev.tenantId }
        : {}),
    ...(identity.clientId ? { clientId: identity.clientId } : {}),
    ...(identity.enabledByOperator !== undefined
      ? { identityEnabledByOperator: identity.enabledByOperator }
      : prev.identityEnabledByOperator !== undefined
        ? { identityEnabledByOperator: prev.identityEnabledByOperator }
        : {}),
    grants: `${grantedCount}/${desiredCount}`,
    roleAssignments: roleStatuses,
    appRoleAssignments: appStatuses,
    ...(lastHeal ? { lastHeal } : {}),
    conditions,
  };
  if (stalledFacet && findCondition(prev.conditions, ConditionType.Stalled)?.status !== "True") {
    events.push({ type: "Warning", reason: "Stalled", note: stalledFacet.message });
  }
  return {
    actions,
    status,
    events,
    stalled: stalledFacet !== undefined,
    ...(waitingForReplication || identity.action
      ? { requeueAfterMs: replicationBackoff(prev.conditions, options) }
      : {}),
  };
}

/**
 * Poll interval while waiting for a new principal to replicate: starts at replicationPollMs and grows with the
 * time already spent waiting (half of it, capped at a minute), read from the conditions' lastTransitionTime —
 * a backoff that survives restarts because it is derived from status, not kept in memory.
 */
function replicationBackoff(conditions: readonly Condition[] | undefined, options: DecideOptions): number {
  const base = options.replicationPollMs ?? 5_000;
  const waiting = (conditions ?? []).filter(
    (c) => c.reason === "WaitingForPrincipalReplication" && c.status === "False",
  );
  const since = Math.min(...waiting.map((c) => Date.parse(c.lastTransitionTime)));
  if (!Number.isFinite(since)) return base;
  const elapsed = Date.parse(options.now) - since;
  return Math.max(base, Math.min(60_000, Math.floor(elapsed / 2)));
}

// ---------------------------------------------------------------------------------------------------------------
// Revocation (shared by converge and deletion)

interface RevocationContext {
  principal: string | undefined;
  oldPrincipals: Set<string>;
  specRoleKeys: Set<string>;
  specAppKeys: Set<string>;
  /** Orphans of old principals are swept only after the new principal holds every grant. */
  sweepOrphans: boolean;
  deleting: boolean;
}

/** Only grants this binding created: recorded as Created, or carrying the deterministic name for a principal. */
function revocations(
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
      !eqi(lastSegment(e.id), roleAssignmentName(e.scope, e.roleDefinitionId, e.principalId))
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
        const name = roleAssignmentName(ra.scope, def.id, p);
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

// ---------------------------------------------------------------------------------------------------------------
// Deletion

function decideDeletion(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  options: DecideOptions,
): BindingDecision {
  const prev = binding.status ?? {};
  const meta = binding.metadata;
  const hasFinalizer = (meta.finalizers ?? []).includes(FINALIZER);
  const base = { status: prev, events: [] as BindingEvent[], stalled: false };
  if (!hasFinalizer) return { ...base, actions: [] };
  if ((binding.spec.deletionPolicy ?? "Delete") === "Orphan")
    return { ...base, actions: [{ type: "removeFinalizer" }] };

  const la = observed.logicApp;
  const principal = la.exists
    ? binding.spec.identity.type === "SystemAssigned"
      ? la.identity.principalId
      : la.identity.userAssigned.find((u) => eqi(u.id, binding.spec.identity.userAssignedIdentityId))
          ?.principalId
    : undefined;
  const oldPrincipals = new Set<string>();
  for (const e of [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])]) {
    if (e.principalId) oldPrincipals.add(e.principalId.toLowerCase());
  }
  if (prev.principalId) oldPrincipals.add(prev.principalId.toLowerCase());
  const revoked = revocations(binding, observed, {
    principal,
    oldPrincipals,
    specRoleKeys: new Set(),
    specAppKeys: new Set(),
    sweepOrphans: true,
    deleting: true,
  });
  const actions: BindingAction[] = [...revoked.actions];

  // Turn off a system-assigned identity this binding turned on, after its grants are gone.
  if (
    actions.length === 0 &&
    prev.identityEnabledByOperator === true &&
    la.exists &&
    hasSystem(la.identity.type)
  ) {
    const ua = la.identity.userAssigned.map((u) => u.id);
    actions.push({
      type: "setIdentity",
      desired: { type: ua.length > 0 ? "UserAssigned" : "None", userAssignedIdentityIds: ua },
      expectedVersion: la.version,
      why: "disableOnDelete",
    });
  }
  if (actions.length === 0) actions.push({ type: "removeFinalizer" });

  const now = options.now;
  const conditions = setCondition(
    setCondition(
      prev.conditions ?? [],
      {
        type: ConditionType.Ready,
        status: "False",
        reason: "Deleting",
        message: "revoking the grants this binding created",
        observedGeneration: meta.generation,
      },
      now,
    ),
    {
      type: ConditionType.Reconciling,
      status: "True",
      reason: "Deleting",
      message: "revoking the grants this binding created",
      observedGeneration: meta.generation,
    },
    now,
  );
  return {
    actions,
    status: {
      ...prev,
      // While deleting, status lists what is still being revoked.
      roleAssignments: revoked.roleStatuses,
      appRoleAssignments: revoked.appStatuses,
      conditions,
    },
    events: [],
    stalled: false,
  };
}
