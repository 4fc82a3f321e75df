/**
 * LogicAppIdentityBinding: a Logic App's managed identity, the Azure RBAC roles it holds and the Microsoft Graph
 * app roles it is granted. One definition gives both the TypeScript types and the CRD's OpenAPI schema.
 */
import { Type, type Static } from "@sinclair/typebox";
import { ConditionsSchema } from "./conditions.ts";
import type { KubeObject } from "./metadata.ts";
import { patterns } from "./patterns.ts";
import { cel, StringEnum } from "./schema-helpers.ts";

export const BINDING_KIND = "LogicAppIdentityBinding";
export const BINDING_PLURAL = "logicappidentitybindings";

export const MAX_ROLE_ASSIGNMENTS = 32;
export const MAX_APP_ROLE_ASSIGNMENTS = 16;
export const MAX_CONNECTIONS = 16;

export const IdentityTypes = ["SystemAssigned", "UserAssigned"] as const;
export const DeletionPolicies = ["Delete", "Orphan"] as const;

const deletionPolicy = StringEnum(DeletionPolicies, {
  description:
    "What happens in Azure when this object is deleted. Delete (default): revoke the grants this object created and " +
    "turn off a system-assigned identity it turned on. Orphan: leave Azure as it is.",
  default: "Delete",
});

export const RoleAssignmentSpecSchema = Type.Object(
  {
    scope: Type.String({
      description:
        "ARM ID of the scope the role is granted at: a subscription, a resource group, or a resource such as " +
        "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>.",
      pattern: patterns.armScope,
      maxLength: 1024,
    }),
    role: Type.String({
      description:
        "Role to grant: a built-in or custom role name (e.g. 'Key Vault Secrets User'), a role definition GUID, or a " +
        "role definition resource ID. Names are resolved at the scope.",
      pattern: patterns.role,
      maxLength: 512,
    }),
  },
  { description: "An Azure RBAC role granted to the Logic App's identity at a scope." },
);

export const AppRoleAssignmentSpecSchema = Type.Object(
  {
    api: Type.Optional(
      Type.String({
        description:
          "The API's app registration: its application (client) ID GUID, or an identifier URI such as api://orders. " +
          "An identifier URI must match the registration's identifierUris exactly (a trailing slash matters).",
        pattern: patterns.apiReference,
        maxLength: 256,
      }),
    ),
    apiRegistrationRef: Type.Optional(
      Type.Object(
        {
          name: Type.String({
            description: "Name of an ApiRegistration in this namespace.",
            pattern: patterns.objectName,
            maxLength: 253,
          }),
        },
        {
          description:
            "The API declared by an ApiRegistration in this namespace, instead of api: no copied appId or URI. " +
            "Granted once the registration reports its appId; a JWT policy following this binding takes the " +
            "registration's audience and issuer (token version) from it.",
        },
      ),
    ),
    appRole: Type.String({
      description:
        "The app role's value as it appears in the token's roles claim (e.g. AddRole), not its display name.",
      pattern: patterns.appRoleValue,
      maxLength: 249,
    }),
  },
  {
    description: "A Microsoft Graph app role on an API, granted to the Logic App's identity.",
    ...cel({
      rule: "has(self.api) != has(self.apiRegistrationRef)",
      message: "an app role grant names its API by api or by apiRegistrationRef, exactly one of them",
    }),
  },
);

export const BindingIdentitySchema = Type.Object(
  {
    type: StringEnum(IdentityTypes, {
      description:
        "SystemAssigned: the Logic App's own identity (enabled if off). UserAssigned: attach the identity named in " +
        "userAssignedIdentityId.",
    }),
    userAssignedIdentityId: Type.Optional(
      Type.String({
        description:
          "ARM ID of the user-assigned identity. Required when type is UserAssigned, forbidden otherwise.",
        pattern: patterns.userAssignedIdentityId,
        maxLength: 1024,
      }),
    ),
  },
  {
    description: "Which managed identity the Logic App uses.",
    ...cel({
      rule: "self.type == 'UserAssigned' ? has(self.userAssignedIdentityId) : !has(self.userAssignedIdentityId)",
      message:
        "userAssignedIdentityId is required when type is UserAssigned and must be absent when SystemAssigned",
      fieldPath: ".userAssignedIdentityId",
      reason: "FieldValueInvalid",
    }),
  },
);

export const BindingSpecSchema = Type.Object(
  {
    logicAppId: Type.String({
      description:
        "ARM ID of the Logic App: Consumption (Microsoft.Logic/workflows/<name>) or Standard " +
        "(Microsoft.Web/sites/<name>). Immutable: bind another Logic App with another object.",
      pattern: patterns.logicAppId,
      maxLength: 1024,
      ...cel({ rule: "self == oldSelf", message: "logicAppId is immutable" }),
    }),
    identity: BindingIdentitySchema,
    roleAssignments: Type.Optional(
      Type.Array(RoleAssignmentSpecSchema, {
        description: "Azure RBAC roles to grant to the identity. Each (scope, role) pair appears once.",
        maxItems: MAX_ROLE_ASSIGNMENTS,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["scope", "role"],
      }),
    ),
    appRoleAssignments: Type.Optional(
      Type.Array(AppRoleAssignmentSpecSchema, {
        description:
          "Microsoft Graph app roles to grant to the identity. Each (api or apiRegistrationRef, appRole) appears once.",
        maxItems: MAX_APP_ROLE_ASSIGNMENTS,
        // atomic rather than a map keyed by api: a key must be required, and api is absent with apiRegistrationRef.
        "x-kubernetes-list-type": "atomic",
        ...cel({
          rule: "self.all(x, self.exists_one(y, y == x))",
          message: "each (api or apiRegistrationRef, appRole) pair appears once",
        }),
      }),
    ),
    connections: Type.Optional(
      Type.Array(
        Type.String({
          description: "ARM ID of a managed API connection (Microsoft.Web/connections/<name>).",
          pattern: patterns.connectionId,
          maxLength: 1024,
        }),
        {
          description:
            "Standard Logic Apps: V2 API connections whose access policy must name the identity, in addition to those " +
            "found in the app's connections.json. The operator keeps one access policy per connection for the current " +
            "principal and removes the ones it made for a previous principal. Each must lie within spec.scopes of an " +
            "AzureAccessPolicy.",
          maxItems: MAX_CONNECTIONS,
          "x-kubernetes-list-type": "set",
        },
      ),
    ),
    deletionPolicy: Type.Optional(deletionPolicy),
  },
  { description: "Desired identity and grants of one Logic App." },
);

export const GrantStates = ["Granted", "Pending", "Failed", "Revoking"] as const;
export const GrantOwnerships = ["Created", "Adopted"] as const;

/** What both kinds of grant record about their outcome (the same fields, in the same order). */
const grantOutcomeFields = {
  principalId: Type.Optional(Type.String({ description: "Principal the assignment was made to." })),
  state: StringEnum(GrantStates, { description: "Granted, Pending, Failed or Revoking." }),
  ownership: Type.Optional(
    StringEnum(GrantOwnerships, {
      description:
        "Created: made by this object (or about to be) and revoked on deletion. Adopted: existed before; never revoked.",
    }),
  ),
  message: Type.Optional(Type.String({ description: "Why the grant is not Granted." })),
};

export const RoleAssignmentStatusSchema = Type.Object(
  {
    scope: Type.String({ description: "Scope from the spec." }),
    role: Type.String({ description: "Role from the spec." }),
    roleDefinitionId: Type.Optional(Type.String({ description: "Resolved role definition resource ID." })),
    id: Type.Optional(Type.String({ description: "ARM ID of the role assignment in Azure." })),
    ...grantOutcomeFields,
  },
  { description: "Observed state of one RBAC grant." },
);
export type RoleAssignmentStatus = Static<typeof RoleAssignmentStatusSchema>;

export const AppRoleAssignmentStatusSchema = Type.Object(
  {
    api: Type.String({ description: "API from the spec." }),
    appRole: Type.String({ description: "App role value from the spec." }),
    resourceId: Type.Optional(Type.String({ description: "Object ID of the API's service principal." })),
    appRoleId: Type.Optional(Type.String({ description: "ID of the app role on the API." })),
    id: Type.Optional(Type.String({ description: "ID of the app role assignment in Microsoft Graph." })),
    ...grantOutcomeFields,
  },
  { description: "Observed state of one Graph app-role grant." },
);
export type AppRoleAssignmentStatus = Static<typeof AppRoleAssignmentStatusSchema>;

export const HealRecordSchema = Type.Object(
  {
    previousPrincipalId: Type.String({ description: "Principal the grants pointed at before." }),
    principalId: Type.String({ description: "Principal the grants were moved to." }),
    time: Type.String({
      description: "When the new principal was detected (RFC 3339).",
      format: "date-time",
    }),
    regranted: Type.Integer({ description: "Grants re-created for the new principal.", minimum: 0 }),
    swept: Type.Integer({
      description:
        "Grants this object had made to the old principal: swept by the operator, or removed by Azure with the principal.",
      minimum: 0,
    }),
  },
  { description: "The last time the identity was found recreated and the grants were moved." },
);
export type HealRecord = Static<typeof HealRecordSchema>;

export const BindingStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation last acted on.", minimum: 0 }),
    ),
    identityType: Type.Optional(Type.String({ description: "Identity type observed on the Logic App." })),
    principalId: Type.Optional(
      Type.String({ description: "Object ID of the identity's service principal." }),
    ),
    tenantId: Type.Optional(Type.String({ description: "Microsoft Entra tenant of the identity." })),
    clientId: Type.Optional(Type.String({ description: "Client ID of the user-assigned identity." })),
    identityEnabledByOperator: Type.Optional(
      Type.Boolean({
        description:
          "True when this object turned on a system-assigned identity that was off; undone on deletion.",
      }),
    ),
    grants: Type.Optional(Type.String({ description: "Grants in effect over grants desired, e.g. 3/3." })),
    roleAssignments: Type.Optional(
      Type.Array(RoleAssignmentStatusSchema, {
        description: "One entry per RBAC grant, plus grants being revoked.",
        maxItems: MAX_ROLE_ASSIGNMENTS * 3,
      }),
    ),
    appRoleAssignments: Type.Optional(
      Type.Array(AppRoleAssignmentStatusSchema, {
        description: "One entry per app-role grant, plus grants being revoked.",
        maxItems: MAX_APP_ROLE_ASSIGNMENTS * 3,
      }),
    ),
    lastHeal: Type.Optional(HealRecordSchema),
    conditions: Type.Optional(ConditionsSchema),
  },
  { description: "What the operator observed in Azure and did about it." },
);

export type BindingSpec = Static<typeof BindingSpecSchema>;
export type BindingStatus = Static<typeof BindingStatusSchema>;
export type RoleAssignmentSpec = Static<typeof RoleAssignmentSpecSchema>;
export type AppRoleAssignmentSpec = Static<typeof AppRoleAssignmentSpecSchema>;
export type LogicAppIdentityBinding = KubeObject<BindingSpec, BindingStatus>;

/** What an unresolved apiRegistrationRef reads as in messages: it never matches an appId or identifier URI. */
export const apiRegistrationLabel = (name: string): string => `ApiRegistration/${name}`;

/**
 * The app-role grants of a spec with their API as one string: `api` as written, or, for an apiRegistrationRef the
 * binding kind has not resolved (the registration has no appId yet), `ApiRegistration/<name>`.
 */
export function appRoleGrants(
  spec: Pick<BindingSpec, "appRoleAssignments">,
): { api: string; appRole: string }[] {
  return (spec.appRoleAssignments ?? []).map((a) => ({
    api: a.api ?? apiRegistrationLabel(a.apiRegistrationRef?.name ?? ""),
    appRole: a.appRole,
  }));
}

/**
 * `spec.logicAppId` as ownership records, claims and the inventory's dependency index spell it: ARM IDs are
 * case-insensitive, and a trailing slash names the same resource.
 */
export function canonicalLogicAppId(id: string): string {
  return id.trim().replace(/\/+$/, "").toLowerCase();
}
