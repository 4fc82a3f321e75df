/**
 * The evidence export's JSON shape: one TypeBox value gives the TypeScript type, the published JSON Schema
 * (docs/evidence.schema.json, written by hack/gen-evidence-schema.ts and checked fresh by a test) and the check a
 * test runs on real output (Value.Check).
 */
import { Type, type Static } from "@sinclair/typebox";

const Verify = Type.Union(
  [Type.Literal("OK"), Type.Literal("MISSING"), Type.Literal("UNDECLARED"), Type.Literal("CHANGED")],
  {
    description:
      "--verify only: OK, MISSING (the cluster reports it, Azure does not hold it), UNDECLARED (Azure holds it, nothing declared it), CHANGED (identity principal differs).",
  },
);

const Ownership = Type.Union([Type.Literal("Created"), Type.Literal("Adopted"), Type.Literal("Unknown")], {
  description: "Created by this binding (revoked on deletion) or Adopted (existed before; never revoked).",
});

export const RbacEvidenceSchema = Type.Object({
  scope: Type.String(),
  role: Type.String({ description: "Role name as declared (or resolved for undeclared grants)." }),
  roleDefinitionGuid: Type.Optional(Type.String()),
  assignmentId: Type.Optional(Type.String({ description: "ARM ID of the role assignment." })),
  principalId: Type.Optional(Type.String()),
  ownership: Ownership,
  recorded: Type.Boolean({ description: "Listed in the operator's ownership record (proof it made it)." }),
  state: Type.Optional(Type.String({ description: "Granted, Pending, Failed or Revoking (status)." })),
  since: Type.Optional(
    Type.String({
      description: "When the binding last became Ready (RFC 3339); per-grant times are not recorded.",
    }),
  ),
  verify: Type.Optional(Verify),
});

export const RegistrationEvidenceSchema = Type.Object(
  {
    namespace: Type.String(),
    name: Type.String(),
    appId: Type.Optional(
      Type.String({ description: "Application (client) ID, as the registration reports it." }),
    ),
    identifierUri: Type.Optional(Type.String({ description: "Its first identifier URI (the v1 audience)." })),
    tokenVersion: Type.Optional(Type.Integer({ description: "Access token version (1 or 2)." })),
    roleId: Type.Optional(Type.String({ description: "Id of the granted app role on the application." })),
  },
  { description: "The ApiRegistration that declares the API this app role belongs to (when one does)." },
);

export const AccessEvidenceSchema = Type.Object(
  {
    verified: Type.String({
      description: "Status of the rule's AccessVerified condition: True, False or Unknown.",
    }),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    operations: Type.Optional(Type.Integer()),
    evaluated: Type.Optional(Type.Integer()),
    allowed: Type.Optional(Type.Integer()),
    blocked: Type.Optional(Type.Integer()),
    unknown: Type.Optional(Type.Integer()),
    verdicts: Type.Array(
      Type.Object({
        operation: Type.String(),
        verdict: Type.String(),
        message: Type.Optional(Type.String()),
      }),
      { description: "status.accessCheck.verdicts: Blocked first, then Unknown, then Allowed." },
    ),
  },
  {
    description:
      "Would this binding's token get through the rule's target (the policy's AccessVerified condition and " +
      "status.accessCheck, docs/access-check.md); only for the binding the rule pins.",
  },
);

export const AppRoleEvidenceSchema = Type.Object({
  api: Type.String(),
  appRole: Type.String({ description: "App role value." }),
  appRoleId: Type.Optional(Type.String()),
  resourceId: Type.Optional(Type.String({ description: "Object ID of the API's service principal." })),
  assignmentId: Type.Optional(Type.String()),
  principalId: Type.Optional(Type.String()),
  ownership: Ownership,
  recorded: Type.Boolean(),
  state: Type.Optional(Type.String()),
  since: Type.Optional(Type.String()),
  verify: Type.Optional(Verify),
  registration: Type.Optional(RegistrationEvidenceSchema),
});

export const JwtEvidenceSchema = Type.Object({
  namespace: Type.String(),
  name: Type.String(),
  apimServiceId: Type.String(),
  target: Type.String({ description: "global, product/<id>, api/<id> or api/<id>/operation/<id>." }),
  relation: Type.Union([Type.Literal("pins"), Type.Literal("admits")], {
    description:
      "pins: bindingRef names this binding (its principal is required); admits: audiences/roles accept its tokens.",
  }),
  audiences: Type.Array(Type.String()),
  roles: Type.Array(Type.String()),
  ready: Type.Optional(Type.String()),
  access: Type.Optional(AccessEvidenceSchema),
});

export const ConnectionEvidenceSchema = Type.Object(
  {
    connectionId: Type.String({
      description: "ARM ID of the managed API connection (Microsoft.Web/connections, V2).",
    }),
    policy: Type.String({
      description: "Name of the access policy the operator made on it (laio-<principal>).",
    }),
    policyId: Type.String({ description: "ARM ID of that access policy." }),
    principalId: Type.String({
      description: "The principal the policy was made for (the ownership record's).",
    }),
    state: Type.Union([Type.Literal("Granted"), Type.Literal("Stale")], {
      description:
        "Granted: made for the binding's current principal; Stale: for an earlier one (the identity was recreated), removed by the next pass that reads the connection.",
    }),
    verify: Type.Optional(Verify),
  },
  {
    description:
      "An access policy on a managed API connection that the operator made for this binding's identity (Standard Logic Apps, docs/workflow-check.md), from its ownership record.",
  },
);

export const BindingEvidenceSchema = Type.Object({
  namespace: Type.String(),
  name: Type.String(),
  logicAppId: Type.String(),
  identityType: Type.Optional(Type.String()),
  principalId: Type.Optional(Type.String()),
  clientId: Type.Optional(Type.String()),
  tenantId: Type.Optional(Type.String()),
  identityVerify: Type.Optional(Verify),
  rbac: Type.Array(RbacEvidenceSchema),
  appRoles: Type.Array(AppRoleEvidenceSchema),
  connections: Type.Array(ConnectionEvidenceSchema),
  jwtPolicies: Type.Array(JwtEvidenceSchema),
  lastHeal: Type.Optional(
    Type.Object({
      previousPrincipalId: Type.String(),
      principalId: Type.String(),
      time: Type.String(),
      regranted: Type.Integer(),
      swept: Type.Integer(),
    }),
  ),
  conditions: Type.Array(
    Type.Object({
      type: Type.String(),
      status: Type.String(),
      reason: Type.String(),
      message: Type.String(),
      lastTransitionTime: Type.Optional(Type.String()),
    }),
    {
      description:
        "Every condition the binding reports (Ready, Stalled, and AccessVerified/WorkflowConsistent where present).",
    },
  ),
});

export const EvidenceSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    generatedAt: Type.String(),
    scope: Type.String({ description: "The namespace exported, or * for all." }),
    verified: Type.Boolean({ description: "Whether Azure was re-read (--verify)." }),
    bindings: Type.Array(BindingEvidenceSchema),
  },
  {
    $id: "https://identity.logicapp.dev/schemas/evidence.schema.json",
    title: "logicapp-identity-operator access evidence",
    description: "Output of `logicapp-identity-operator evidence --format json`.",
  },
);

export type Evidence = Static<typeof EvidenceSchema>;
export type BindingEvidence = Static<typeof BindingEvidenceSchema>;
export type RbacEvidence = Static<typeof RbacEvidenceSchema>;
export type AppRoleEvidence = Static<typeof AppRoleEvidenceSchema>;
export type JwtEvidence = Static<typeof JwtEvidenceSchema>;
export type ConnectionEvidence = Static<typeof ConnectionEvidenceSchema>;
export type RegistrationEvidence = Static<typeof RegistrationEvidenceSchema>;
export type AccessEvidence = Static<typeof AccessEvidenceSchema>;
