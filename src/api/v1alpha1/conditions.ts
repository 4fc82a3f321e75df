import { Type, type Static } from "@sinclair/typebox";
import { StringEnum } from "./schema-helpers.ts";

/** metav1.Condition, as Kubernetes API conventions and kstatus (Flux, Argo CD, `kubectl wait`) read it. */
export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description:
        "Condition type in CamelCase: Ready (summary), Reconciling, Stalled, or a facet such as IdentityReady.",
      maxLength: 316,
    }),
    status: StringEnum(["True", "False", "Unknown"] as const, { description: "True, False or Unknown." }),
    reason: Type.String({
      description: "One-word CamelCase reason for the last transition, for machines (e.g. RoleNotFound).",
      maxLength: 1024,
    }),
    message: Type.String({ description: "Human-readable detail of the last transition.", maxLength: 32768 }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation the condition was computed from.", minimum: 0 }),
    ),
    lastTransitionTime: Type.String({
      description: "When status last changed (RFC 3339). Unchanged when only reason or message change.",
      format: "date-time",
    }),
  },
  { description: "One observation of the object's state." },
);
export type Condition = Static<typeof ConditionSchema>;

export const ConditionsSchema = Type.Array(ConditionSchema, {
  description: "Current conditions. Ready is the summary; Reconciling and Stalled follow kstatus.",
  maxItems: 16,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
});

export const ConditionType = {
  Ready: "Ready",
  Reconciling: "Reconciling",
  Stalled: "Stalled",
  IdentityReady: "IdentityReady",
  RoleAssignmentsReady: "RoleAssignmentsReady",
  AppRoleAssignmentsReady: "AppRoleAssignmentsReady",
  AudienceWarning: "AudienceWarning",
  PolicyApplied: "PolicyApplied",
  /** The workflows' managed-identity actions match the binding (issue 14); a warning, never blocks Ready. */
  WorkflowConsistent: "WorkflowConsistent",
  /** Connections follow the identity: V2 access policies name the current principal (issue 14). */
  ConnectionsReady: "ConnectionsReady",
} as const;

export type ConditionStatus = Condition["status"];

/** What a caller says about a condition; setCondition fills lastTransitionTime. */
export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

/** Kubernetes serializes metav1.Time at second precision; matching it keeps deep-equal comparisons stable. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Returns a new list with one condition set (pure; the single implementation used by the runtime and both
 * reconcilers). lastTransitionTime moves only when the status changes (Kubernetes API conventions); reason,
 * message and observedGeneration are refreshed in place. Order is kept; new types are appended.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date | string,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const existing = i >= 0 ? list[i] : undefined;
  const time = typeof now === "string" ? now : rfc3339(now);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? "",
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime: existing && existing.status === input.status ? existing.lastTransitionTime : time,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * A decision's conditions applied to the list the object holds: the one place a pass stamps lastTransitionTime.
 * `drop` names conditions that no longer apply (e.g. a warning whose cause is gone).
 */
export function applyConditions(
  existing: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  now: Date | string,
  drop: readonly string[] = [],
): Condition[] {
  let list = [...(existing ?? [])];
  for (const input of inputs) list = setCondition(list, input, now);
  for (const type of drop) list = removeCondition(list, type);
  return list;
}
