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
  type BindingStatus,
  type Condition,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { decideAppRoleGrants, decideRoleGrants } from "./decide-grants.ts";
import { decideIdentity } from "./decide-identity.ts";
import { revocations } from "./decide-revocations.ts";
import { eqi, hasSystem, type Facet } from "./decide-support.ts";
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

export function decide(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  options: DecideOptions,
): BindingDecision {
  const deleting = binding.metadata.deletionTimestamp !== undefined;
  return deleting ? decideDeletion(binding, observed, options) : decideConverge(binding, observed, options);
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
  const actions: BindingAction[] = [];
  const events: BindingEvent[] = [];

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

  const roles = decideRoleGrants(binding, observed, principal);
  const apps = decideAppRoleGrants(binding, observed, principal);
  actions.push(...roles.actions, ...apps.actions);
  const roleStatuses = roles.statuses;
  const appStatuses = apps.statuses;
  const rolesPending = roles.pending;
  const appPending = apps.pending;
  const specRoleKeys = roles.specKeys;
  const specAppKeys = apps.specKeys;
  const audienceWarning = apps.audienceWarning;

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
    roles.problems[0] ??
    (rolesPending > 0
      ? roles.waitingForReplication
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
    apps.problems[0] ??
    (appPending > 0
      ? apps.waitingForReplication
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
    ...(roles.waitingForReplication || apps.waitingForReplication || identity.action
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
