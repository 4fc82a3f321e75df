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
} as const;
