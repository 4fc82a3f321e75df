/**
 * The binding reconciler's brain: given the object and what Azure looks like now, which writes bring Azure to the
 * spec, and what status describes the result. Pure: no I/O, no clock (the caller passes `now`), no SDK.
 *
 * Rules, in the order a pass applies them:
 * 1. Identity first: a grant needs a principal. Consumption apps hold one identity kind; a conflicting one is a
 *    Stalled condition, never a flip-flop. Standard apps keep every other identity they have.
 * 2. Grants for the current principal: RBAC by deterministic name, Graph app roles by (principal, appRoleId).
 * 3. Heal: the principal differs from status.principalId → grant everything to the new principal, then sweep the
 *    old principal's grants that this binding owns.
 * 4. Revoke only what this binding owns, decided from Azure and its ownership record (docs/ownership.md), never
 *    from status; adopted grants are forgotten, never deleted.
 * 0. Before all of them: a binding whose Logic App another binding has claimed writes nothing (LogicAppClaimed).
 */
import {
  ConditionType,
  FINALIZER,
  type BindingStatus,
  type Condition,
  type ConditionInput,
  type HealRecord,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { identityTurnedOnByUs, LOGIC_APP_CLAIMED, logicAppClaimedMessage } from "../shared/ownership.ts";
import type { Decision, Report } from "../shared/rounds.ts";
import { decideAppRoleGrants, decideRoleGrants, type GrantsOutcome } from "./decide-grants.ts";
import { decideIdentity, type IdentityOutcome } from "./decide-identity.ts";
import { revocations } from "./decide-revocations.ts";
import { allowedSpec, refusedGrants, refuseIdentity, TENANCY_REASONS } from "./decide-tenancy.ts";
import { eqi, hasSystem, type Facet } from "./decide-support.ts";
import {
  appRoleKey,
  roleKey,
  type BindingAction,
  type BindingNaming,
  type BindingObservation,
} from "./model.ts";

export type BindingDecision = Decision<BindingAction, BindingStatus>;

export interface DecideOptions {
  now: string;
  /** Poll interval while waiting for a fresh principal to replicate. */
  replicationPollMs?: number;
  naming: BindingNaming;
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
  ...TENANCY_REASONS,
]);

/** Refusals only a person's change lifts (RoleNotResolved may clear once Azure answers: it keeps the re-check). */
const POLICY_ONLY_REASONS: ReadonlySet<string> = new Set(
  TENANCY_REASONS.filter((r) => r !== "RoleNotResolved"),
);

export function decide(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  options: DecideOptions,
): BindingDecision {
  const deleting = binding.metadata.deletionTimestamp !== undefined;
  if (observed.claimedBy !== undefined) return decideClaimed(binding, observed.claimedBy, deleting);
  return deleting ? decideDeletion(binding, observed, options) : decideConverge(binding, observed, options);
}

/**
 * Another binding manages this Logic App: touch nothing in Azure, not even on deletion (everything there is the
 * holder's or someone else's), and say who holds it.
 */
export function decideClaimed(
  binding: LogicAppIdentityBinding,
  holder: string,
  deleting: boolean,
): BindingDecision {
  const prev = binding.status ?? {};
  const gen = binding.metadata.generation;
  if (deleting)
    return { actions: [], status: prev, conditions: [], finalize: true, stalled: false, findings: [] };
  const message = logicAppClaimedMessage(binding.spec.logicAppId, holder);
  const c = (type: string, status: ConditionInput["status"], msg = message): ConditionInput => ({
    type,
    status,
    reason: LOGIC_APP_CLAIMED,
    message: msg,
    observedGeneration: gen,
  });
  return {
    actions: [],
    // Nothing of the holder's is this binding's to report: no principal, no grants.
    status: {
      observedGeneration: gen,
      grants: `0/${grantCount(binding)}`,
      roleAssignments: [],
      appRoleAssignments: [],
    },
    conditions: [
      c(ConditionType.Ready, "False"),
      c(ConditionType.Stalled, "True"),
      c(ConditionType.Reconciling, "False", ""),
    ],
    finalize: false,
    stalled: true,
    findings: [],
  };
}

const grantCount = (b: LogicAppIdentityBinding): number =>
  (b.spec.roleAssignments?.length ?? 0) + (b.spec.appRoleAssignments?.length ?? 0);

// ---------------------------------------------------------------------------------------------------------------
// Converge: a chain of small named steps, each callable alone.

function decideConverge(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  options: DecideOptions,
): BindingDecision {
  const prev = binding.status ?? {};
  // What the access policies refuse is not wanted: out of the effective spec, so our grants for it are revoked.
  const verdicts = observed.tenancy;
  const allowed = verdicts ? allowedSpec(binding, verdicts) : binding;
  const identity = verdicts
    ? refuseIdentity(decideIdentity(binding, observed), verdicts)
    : decideIdentity(binding, observed);
  const principal = identity.principalId;
  const heal = detectHeal(prev, principal, observed);
  const roles = decideRoleGrants(allowed, observed, principal, options.naming);
  const apps = decideAppRoleGrants(allowed, observed, principal);
  const revoked = revocations(allowed, observed, {
    principal,
    oldPrincipals: heal.oldPrincipals,
    specRoleKeys: roles.specKeys,
    specAppKeys: apps.specKeys,
    // Orphans of old principals go only once the new principal holds every grant.
    sweepOrphans: principal !== undefined && roles.pending === 0 && apps.pending === 0,
    deleting: false,
    naming: options.naming,
  });
  const actions = [
    ...(identity.action ? [identity.action] : []),
    ...roles.actions,
    ...apps.actions,
    ...revoked.actions,
  ];
  const refused = verdicts
    ? refusedGrants(binding, verdicts, {
        roleKeys: new Set(revoked.roleStatuses.map((e) => roleKey(e.scope, e.role))),
        appKeys: new Set(revoked.appStatuses.map((e) => appRoleKey(e.api, e.appRole))),
      })
    : undefined;
  const roleStatuses = [...roles.statuses, ...(refused?.roleStatuses ?? []), ...revoked.roleStatuses];
  const appStatuses = [...apps.statuses, ...(refused?.appStatuses ?? []), ...revoked.appStatuses];
  const facets: Facets = {
    identity: identity.facet,
    roles: refused?.roleFacet ?? grantFacet(roles, principal, "role assignment(s)", "Azure RBAC"),
    apps: refused?.appFacet ?? grantFacet(apps, principal, "app role assignment(s)", "Microsoft Graph"),
  };
  const summary = summarizeFacets(facets, actions.length > 0);
  const gen = binding.metadata.generation;
  const lastHeal = heal.previousPrincipal
    ? healRecord(binding, heal.previousPrincipal, principal!, options.now)
    : prev.lastHeal;
  const counts = {
    desired: (binding.spec.roleAssignments?.length ?? 0) + (binding.spec.appRoleAssignments?.length ?? 0),
    granted:
      roleStatuses.filter((s) => s.state === "Granted" && roles.specKeys.has(roleKey(s.scope, s.role)))
        .length +
      appStatuses.filter((s) => s.state === "Granted" && apps.specKeys.has(appRoleKey(s.api, s.appRole)))
        .length,
  };
  return {
    actions,
    status: {
      ...identityStatus(prev, identity),
      observedGeneration: gen,
      grants: `${counts.granted}/${counts.desired}`,
      roleAssignments: roleStatuses,
      appRoleAssignments: appStatuses,
      ...(lastHeal ? { lastHeal } : {}),
    },
    conditions: [
      ...facetConditions(facets, summary, gen),
      ...(apps.audienceWarning
        ? [
            {
              type: ConditionType.AudienceWarning,
              status: "True" as const,
              reason: "IdentifierUriMismatch",
              message: apps.audienceWarning,
              observedGeneration: gen,
            },
          ]
        : []),
    ],
    dropConditions: apps.audienceWarning ? [] : [ConditionType.AudienceWarning],
    finalize: false,
    stalled: summary.stalled !== undefined,
    ...(summary.stalledOnPolicy ? { stalledOnPolicy: true } : {}),
    findings: [
      ...(heal.previousPrincipal && lastHeal ? healFindings(lastHeal) : []),
      ...(refused?.findings ?? []),
    ],
    ...(roles.waitingForReplication || apps.waitingForReplication || identity.action
      ? { requeueAfterMs: replicationBackoff(prev.conditions, options) }
      : {}),
  };
}

/**
 * A principal that differs from the recorded one means the identity was recreated: heal. Old principals are every
 * principal status still ties to this binding other than the current one; their grants are swept once the new one
 * holds everything.
 */
export function detectHeal(
  prev: BindingStatus,
  principal: string | undefined,
  observed?: Pick<BindingObservation, "record">,
): { previousPrincipal?: string; oldPrincipals: Set<string> } {
  const oldPrincipals = new Set<string>();
  if (!principal) return { oldPrincipals };
  const other = (p: string | undefined): p is string => p !== undefined && !eqi(p, principal);
  // A restored object has no status: its record still says which principals held its grants.
  for (const e of [...(observed?.record?.rbac ?? []), ...(observed?.record?.graph ?? [])])
    if (other(e.principalId)) oldPrincipals.add(e.principalId.toLowerCase());
  for (const e of [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])]) {
    if (other(e.principalId)) oldPrincipals.add(e.principalId.toLowerCase());
  }
  if (other(prev.lastHeal?.previousPrincipalId))
    oldPrincipals.add(prev.lastHeal.previousPrincipalId.toLowerCase());
  if (!other(prev.principalId)) return { oldPrincipals };
  oldPrincipals.add(prev.principalId.toLowerCase());
  return { previousPrincipal: prev.principalId, oldPrincipals };
}

/** One grant facet's verdict: the first problem, else pending (and why), else all granted. */
export function grantFacet(
  g: Pick<GrantsOutcome<{ state: string }>, "problems" | "pending" | "waitingForReplication" | "statuses">,
  principal: string | undefined,
  noun: string,
  service: string,
): Facet {
  const problem = g.problems[0];
  if (problem) return problem;
  if (g.pending > 0 && g.waitingForReplication) {
    return {
      ok: false,
      reason: "WaitingForPrincipalReplication",
      message: `the new identity is not yet visible to ${service}; retrying`,
    };
  }
  if (g.pending > 0) {
    return {
      ok: false,
      reason: principal ? "Granting" : "WaitingForIdentity",
      message: `${g.pending} ${noun} pending`,
    };
  }
  const granted = g.statuses.filter((s) => s.state === "Granted").length;
  return { ok: true, reason: "AllGranted", message: `${granted} ${noun} in effect` };
}

interface Facets {
  identity: Facet;
  roles: Facet;
  apps: Facet;
}

interface Summary {
  ready: Facet;
  /** The first facet a person must fix. */
  stalled?: Facet;
  /** Every facet a person must fix is refused by the tenancy policy (nothing Azure-side to wait for). */
  stalledOnPolicy?: boolean;
  converging: boolean;
}

/** Ready is the first facet that is not ok; Stalled the first one a person must fix; the rest is progress. */
export function summarizeFacets(facets: Facets, writing: boolean): Summary {
  const list = [facets.identity, facets.roles, facets.apps];
  const firstBad = list.find((f) => !f.ok);
  const needPerson = list.filter((f) => !f.ok && STALLED_REASONS.has(f.reason));
  const stalled = needPerson[0];
  const onPolicy = needPerson.length > 0 && needPerson.every((f) => POLICY_ONLY_REASONS.has(f.reason));
  return {
    ready: firstBad ?? {
      ok: true,
      reason: "Ready",
      message: "identity and every grant are in effect in Azure",
    },
    ...(stalled ? { stalled } : {}),
    ...(onPolicy ? { stalledOnPolicy: true } : {}),
    converging: writing || (firstBad !== undefined && !stalled),
  };
}

function facetConditions(facets: Facets, s: Summary, gen: number | undefined): ConditionInput[] {
  const c = (type: string, status: ConditionInput["status"], reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    observedGeneration: gen,
  });
  const of = (type: string, f: Facet) => c(type, f.ok ? "True" : "False", f.reason, f.message);
  return [
    of(ConditionType.IdentityReady, facets.identity),
    of(ConditionType.RoleAssignmentsReady, facets.roles),
    of(ConditionType.AppRoleAssignmentsReady, facets.apps),
    of(ConditionType.Ready, s.ready),
    s.stalled
      ? c(ConditionType.Stalled, "True", s.stalled.reason, s.stalled.message)
      : c(ConditionType.Stalled, "False", "NotStalled", ""),
    s.converging
      ? c(
          ConditionType.Reconciling,
          "True",
          s.ready.ok ? "Revoking" : s.ready.reason,
          s.ready.ok ? "revoking grants no longer wanted" : s.ready.message,
        )
      : c(ConditionType.Reconciling, "False", "Converged", ""),
  ];
}

/** Identity fields of status: what was observed, else what status recorded before. */
function identityStatus(prev: BindingStatus, identity: IdentityOutcome): BindingStatus {
  const principalId = identity.principalId ?? prev.principalId;
  const tenantId = identity.tenantId ?? prev.tenantId;
  const enabled = identity.enabledByOperator ?? prev.identityEnabledByOperator;
  return {
    ...(identity.identityType ? { identityType: identity.identityType } : {}),
    ...(principalId ? { principalId } : {}),
    ...(tenantId ? { tenantId } : {}),
    ...(identity.clientId ? { clientId: identity.clientId } : {}),
    ...(enabled !== undefined ? { identityEnabledByOperator: enabled } : {}),
  };
}

function healRecord(
  binding: LogicAppIdentityBinding,
  previousPrincipal: string,
  principal: string,
  now: string,
): HealRecord {
  const prev = binding.status ?? {};
  const spec = binding.spec;
  const swept = [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])].filter(
    (e) => eqi(e.principalId, previousPrincipal) && e.ownership === "Created",
  ).length;
  return {
    previousPrincipalId: previousPrincipal,
    principalId: principal,
    time: now,
    regranted: (spec.roleAssignments?.length ?? 0) + (spec.appRoleAssignments?.length ?? 0),
    swept,
  };
}

function healFindings(h: HealRecord): Report[] {
  return [
    {
      event: {
        type: "Warning",
        reason: "IdentityRecreated",
        note: `principal changed from ${h.previousPrincipalId} to ${h.principalId}; granting ${h.regranted} grant(s) to the new principal and sweeping ${h.swept} orphaned grant(s)`,
      },
      metric: { name: "healed", facet: "identity" },
    },
    {
      event: {
        type: "Normal",
        reason: "Healed",
        note: `grants moved from ${h.previousPrincipalId} to ${h.principalId}`,
      },
    },
  ];
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
  const done = { actions: [], status: prev, conditions: [], finalize: true, stalled: false, findings: [] };
  if (!(meta.finalizers ?? []).includes(FINALIZER)) return { ...done, finalize: false };
  if ((binding.spec.deletionPolicy ?? "Delete") === "Orphan") return done;

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
    naming: options.naming,
  });
  const actions: BindingAction[] = [...revoked.actions];

  // Turn off a system-assigned identity this binding turned on (the record says so, and the live principal is one
  // it saw), after its grants are gone, and only when no other binding for this Logic App may need it next.
  if (
    actions.length === 0 &&
    la.exists &&
    hasSystem(la.identity.type) &&
    identityTurnedOnByUs(observed.record, la.identity.principalId) &&
    (observed.othersOnLogicApp ?? 0) === 0
  ) {
    const ua = la.identity.userAssigned.map((u) => u.id);
    actions.push({
      type: "setIdentity",
      desired: { type: ua.length > 0 ? "UserAssigned" : "None", userAssignedIdentityIds: ua },
      expectedVersion: la.version,
      why: "disableOnDelete",
    });
  }
  const deleting = (type: string): ConditionInput => ({
    type,
    status: type === ConditionType.Ready ? "False" : "True",
    reason: "Deleting",
    message: "revoking the grants this binding created",
    observedGeneration: meta.generation,
  });
  return {
    actions,
    // While deleting, status lists what is still being revoked.
    status: { ...prev, roleAssignments: revoked.roleStatuses, appRoleAssignments: revoked.appStatuses },
    conditions: [deleting(ConditionType.Ready), deleting(ConditionType.Reconciling)],
    finalize: actions.length === 0,
    stalled: false,
    findings: [],
  };
}
