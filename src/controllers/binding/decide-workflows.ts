/**
 * The workflow check and the connections step on top of the binding's decision (issue 14, docs/workflow-check.md).
 * Pure. Neither ever blocks Ready: a mismatch is a warning (condition WorkflowConsistent, a Warning Event when it
 * changes, the `workflow_mismatches` metric); connections get their own condition (ConnectionsReady).
 *
 * Connections follow the identity:
 * - Standard (V2): each wanted connection gets an access policy named `laio-<principal>` for the current principal,
 *   unless one naming that principal is there already. Policies this binding's record lists for another principal
 *   (or on a connection no longer wanted) are deleted once the current principal's is in place, in the same round
 *   after the put; a policy not in the record is never touched.
 * - Consumption: `$connections` that authenticate with the system identity cannot be re-pointed: after a recreation
 *   Learn says they "won't work at run time … you have to recreate the connections" (authenticate-with-managed-identity.md).
 *   Those created before the heal are reported, with how.
 */
import {
  ConditionType,
  GROUP,
  type ConditionInput,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import type { Report } from "../shared/rounds.ts";
import type { BindingDecision } from "./decide.ts";
import type { BindingAction, BindingObservation, ConnectionObservation } from "./model.ts";
import { checkWorkflows, mismatchMessage, type BoundIdentity, type Mismatch } from "./workflow-check.ts";

/** `workflow/action,...` — silences the check for those actions (nested ones by name or by path). */
export const IGNORE_ACTIONS_ANNOTATION = `${GROUP}/ignore-actions`;

/** Deterministic, so a re-run finds its own policy and a recreated identity gets a new one. */
export const connectionPolicyName = (principalId: string): string => `laio-${principalId.toLowerCase()}`;

const MAX_LISTED = 5;
const eqi = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export function decideWorkflows(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  base: BindingDecision,
): BindingDecision {
  const w = observed.workflows;
  if (!w || observed.claimedBy !== undefined) return base;
  if (binding.metadata.deletionTimestamp !== undefined) return deletion(binding, observed, base);
  const gen = binding.metadata.generation;
  const prev = binding.status?.conditions ?? [];
  const check = workflowCondition(binding, w, gen);
  const conns = connectionsStep(binding, observed, base);
  const prevCheck = prev.find((c) => c.type === ConditionType.WorkflowConsistent);
  const changed =
    prevCheck?.status !== check.condition.status || prevCheck.message !== check.condition.message;
  const findings: Report[] = changed
    ? check.mismatches.slice(0, MAX_LISTED).map((m) => ({
        event: { type: "Warning" as const, reason: "WorkflowMismatch", note: mismatchMessage(m) },
        metric: { name: "workflowMismatch" as const, facet: m.kind },
      }))
    : [];
  const prevConns = prev.find((c) => c.type === ConditionType.ConnectionsReady);
  if (conns.condition && conns.warning && prevConns?.message !== conns.condition.message)
    findings.push({
      event: { type: "Warning", reason: conns.condition.reason, note: conns.condition.message ?? "" },
    });
  return {
    ...base,
    actions: [...base.actions, ...conns.actions],
    conditions: [...base.conditions, check.condition, ...(conns.condition ? [conns.condition] : [])],
    dropConditions: [
      ...(base.dropConditions ?? []),
      ...(conns.condition ? [] : [ConditionType.ConnectionsReady]),
    ],
    findings: [...base.findings, ...findings],
  };
}

/**
 * Deletion (policy Delete): the access policies this binding's record lists go with it, like its grants; the
 * finalizer waits for them. Orphan leaves them, as it leaves everything.
 */
function deletion(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  base: BindingDecision,
): BindingDecision {
  if ((binding.spec.deletionPolicy ?? "Delete") === "Orphan" || !(binding.metadata.finalizers ?? []).length)
    return base;
  const deletes: BindingAction[] = [];
  for (const conn of observed.workflows?.connections ?? []) {
    for (const e of observed.record?.connectionPolicies ?? []) {
      if (!eqi(e.connectionId, conn.connectionId)) continue;
      if (!(conn.accessPolicies ?? []).some((p) => eqi(p.name, e.name))) continue;
      deletes.push({
        type: "deleteConnectionAccessPolicy",
        key: `conn|${conn.connectionId.toLowerCase()}|${e.name.toLowerCase()}`,
        connectionId: conn.connectionId,
        name: e.name,
        principalId: e.principalId,
        why: "deleted",
      });
    }
  }
  if (deletes.length === 0) return base;
  return { ...base, actions: [...deletes, ...base.actions], finalize: false };
}

function boundIdentity(binding: LogicAppIdentityBinding): BoundIdentity {
  const id = binding.spec.identity;
  return id.type === "UserAssigned" && id.userAssignedIdentityId
    ? { type: "UserAssigned", id: id.userAssignedIdentityId }
    : { type: "SystemAssigned" };
}

function workflowCondition(
  binding: LogicAppIdentityBinding,
  w: NonNullable<BindingObservation["workflows"]>,
  gen: number | undefined,
): { condition: ConditionInput; mismatches: Mismatch[] } {
  const c = (status: "True" | "False" | "Unknown", reason: string, message: string): ConditionInput => ({
    type: ConditionType.WorkflowConsistent,
    status,
    reason,
    message,
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
  });
  if (!w.definitions)
    return {
      condition: c(
        "Unknown",
        "WorkflowsUnreadable",
        `workflow definitions could not be read: ${w.problem ?? "the Logic App is gone"}`,
      ),
      mismatches: [],
    };
  if (w.apis.length === 0)
    return {
      condition: c(
        "Unknown",
        "NoApis",
        "the binding grants no app roles on an API that could be resolved: nothing to compare",
      ),
      mismatches: [],
    };
  const ignored = (binding.metadata.annotations?.[IGNORE_ACTIONS_ANNOTATION] ?? "").split(",");
  const r = checkWorkflows({
    workflows: w.definitions,
    identity: boundIdentity(binding),
    apis: w.apis,
    ...(w.gatewayHosts ? { gatewayHosts: w.gatewayHosts } : {}),
    ignored,
  });
  const notes = [
    ...(r.notEvaluated.length > 0
      ? [`not evaluated (expressions): ${r.notEvaluated.slice(0, MAX_LISTED).join(", ")}`]
      : []),
    ...(r.ignored > 0 ? [`${r.ignored} finding(s) silenced by ${IGNORE_ACTIONS_ANNOTATION}`] : []),
  ];
  const suffix = notes.length > 0 ? ` (${notes.join("; ")})` : "";
  if (r.mismatches.length === 0)
    return {
      condition: c(
        "True",
        "Consistent",
        `${r.checked} managed-identity action(s) calling the binding's APIs in ${w.definitions.length} workflow(s) match its identity and audiences${suffix}`,
      ),
      mismatches: [],
    };
  const listed = r.mismatches.slice(0, MAX_LISTED).map(mismatchMessage);
  const more = r.mismatches.length > MAX_LISTED ? `; and ${r.mismatches.length - MAX_LISTED} more` : "";
  return {
    condition: c("False", "WorkflowMismatch", `${listed.join("; ")}${more}${suffix}`),
    mismatches: r.mismatches,
  };
}

function connectionsStep(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  base: BindingDecision,
): { actions: BindingAction[]; condition?: ConditionInput; warning: boolean } {
  const w = observed.workflows!;
  const gen = binding.metadata.generation;
  const c = (status: "True" | "False", reason: string, message: string): ConditionInput => ({
    type: ConditionType.ConnectionsReady,
    status,
    reason,
    message,
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
  });
  if (w.kind === "Consumption") return consumptionConnections(binding, observed, base, c);
  if (w.connections.length === 0) return { actions: [], warning: false };
  const principal = base.status.principalId;
  const tenantId = base.status.tenantId ?? observed.logicApp.identity.tenantId;
  const recorded = observed.record?.connectionPolicies ?? [];
  const actions: BindingAction[] = [];
  const problems: string[] = [];
  let refusedReason: string | undefined;
  let ok = 0;
  let wanted = 0;
  for (const conn of w.connections) {
    const isWanted = conn.source !== "record";
    if (isWanted) wanted++;
    if (conn.refusal) {
      problems.push(conn.refusal.message);
      refusedReason = conn.refusal.reason;
      continue;
    }
    if (conn.problem || !conn.exists || !conn.accessPolicies) {
      if (isWanted)
        problems.push(`connection ${conn.connectionId} (${conn.source}): ${conn.problem ?? "not found"}`);
      continue;
    }
    const policies = conn.accessPolicies;
    const current = principal ? policies.find((p) => eqi(p.objectId, principal)) : undefined;
    let inPlace = current !== undefined;
    if (isWanted && principal && tenantId && !current) {
      actions.push(putPolicy(conn, principal, tenantId));
      inPlace = true; // the deletes below come after it in the same round; apply stops at its failure
    }
    if (isWanted && current) ok++;
    for (const e of recorded.filter((r) => eqi(r.connectionId, conn.connectionId))) {
      const stale = !isWanted || !principal || !eqi(e.principalId, principal);
      const there = policies.some((p) => eqi(p.name, e.name));
      if (stale && there && (inPlace || !isWanted))
        actions.push({
          type: "deleteConnectionAccessPolicy",
          key: `conn|${conn.connectionId.toLowerCase()}|${e.name.toLowerCase()}`,
          connectionId: conn.connectionId,
          name: e.name,
          principalId: e.principalId,
          why: isWanted ? "stale" : "unwanted",
        });
    }
  }
  if (wanted === 0 && actions.length === 0) return { actions, warning: false };
  if (problems.length > 0)
    return {
      actions,
      condition: c(
        "False",
        refusedReason ?? "ConnectionUnavailable",
        problems.slice(0, MAX_LISTED).join("; "),
      ),
      warning: true,
    };
  if (!principal || ok < wanted)
    return {
      actions,
      condition: c(
        "False",
        "AccessPolicyPending",
        principal
          ? `${wanted - ok} of ${wanted} V2 connection(s) get an access policy for principal ${principal}`
          : "waiting for the identity's principal before connection access policies can name it",
      ),
      warning: false,
    };
  return {
    actions,
    condition: c(
      "True",
      "AccessPoliciesInPlace",
      `${wanted} V2 connection(s) have an access policy for principal ${principal}`,
    ),
    warning: false,
  };
}

function putPolicy(conn: ConnectionObservation, principal: string, tenantId: string): BindingAction {
  const name = connectionPolicyName(principal);
  return {
    type: "putConnectionAccessPolicy",
    key: `conn|${conn.connectionId.toLowerCase()}|${name}`,
    connectionId: conn.connectionId,
    name,
    principalId: principal,
    tenantId,
    location: conn.location ?? "",
  };
}

/** Consumption connections on the system identity made before its recreation: they must be recreated by a person. */
function consumptionConnections(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
  base: BindingDecision,
  c: (status: "True" | "False", reason: string, message: string) => ConditionInput,
): { actions: BindingAction[]; condition?: ConditionInput; warning: boolean } {
  const w = observed.workflows!;
  const system = w.msiConnections.filter((m) => m.identity === undefined);
  if (system.length === 0 || binding.spec.identity.type !== "SystemAssigned")
    return { actions: [], warning: false };
  const heal = base.status.lastHeal;
  if (!heal) return { actions: [], warning: false };
  const stale = system.filter((m) => {
    const o = w.connections.find((x) => eqi(x.connectionId, m.connectionId));
    // A connection created after the recreation was detected is a new one; unknown creation time counts as stale.
    return !o?.createdTime || Date.parse(o.createdTime) < Date.parse(heal.time);
  });
  if (stale.length === 0)
    return {
      actions: [],
      condition: c(
        "True",
        "Recreated",
        `${system.length} connection(s) on the system identity were created after it was recreated`,
      ),
      warning: false,
    };
  const names = stale.map((m) => `${m.name} (${m.connectionId})`).join(", ");
  return {
    actions: [],
    condition: c(
      "False",
      "ConnectionsNeedRecreation",
      `the system-assigned identity was recreated (principal ${heal.previousPrincipalId} → ${heal.principalId}); connections that authenticate with it "won't work at run time" until recreated: ${names}. Delete each API connection, create it again with managed-identity authentication, and save the workflow's $connections so it points at the new one`,
    ),
    warning: true,
  };
}
