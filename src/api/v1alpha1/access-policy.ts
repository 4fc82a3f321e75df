/**
 * AzureAccessPolicy: a cluster administrator's statement of what the objects in some namespaces may make the
 * operator do in Azure. Cluster-scoped so that namespace users cannot write one; without a policy that selects
 * its namespace an object may do nothing (fail closed).
 */
import { Type, type Static } from "@sinclair/typebox";
import { armIdPatterns } from "./arm-id.ts";
import { ConditionsSchema } from "./conditions.ts";
import type { KubeObject } from "./metadata.ts";
import { patterns } from "./patterns.ts";
import { cel, StringEnum } from "./schema-helpers.ts";

export const ACCESS_POLICY_KIND = "AzureAccessPolicy";
/** status.namespaces lists at most this many names (the count is always complete). */
export const MAX_LISTED_NAMESPACES = 20;
export const ACCESS_POLICY_PLURAL = "azureaccesspolicies";
const MAX_ENTRIES = 256;

export const MaxScopeBreadths = ["resource", "resourceGroup", "subscription"] as const;
export type MaxScopeBreadth = (typeof MaxScopeBreadths)[number];
export const ApimTargetKinds = ["Api", "Product", "Operation", "Global"] as const;
export type ApimTargetKind = (typeof ApimTargetKinds)[number];
export const DEFAULT_APIM_TARGETS: readonly ApimTargetKind[] = ["Api", "Product", "Operation"];
export const SelectorOperators = ["In", "NotIn", "Exists", "DoesNotExist"] as const;

/** Any value for an app role in `apis[].appRoles`; never enough for a Microsoft first-party API. */
export const ANY_APP_ROLE = "*";

const armIdList = (description: string) =>
  Type.Optional(
    Type.Array(
      Type.String({ pattern: armIdPatterns.any, maxLength: 1024, description: "A canonical ARM ID." }),
      {
        description,
        maxItems: MAX_ENTRIES,
      },
    ),
  );

export const NamespaceSelectionSchema = Type.Object(
  {
    names: Type.Optional(
      Type.Array(
        Type.String({ pattern: patterns.objectName, maxLength: 63, description: "A namespace name." }),
        {
          description: "Namespaces selected by name.",
          maxItems: MAX_ENTRIES,
        },
      ),
    ),
    selector: Type.Optional(
      Type.Object(
        {
          matchLabels: Type.Optional(
            Type.Unsafe<Record<string, string>>({
              type: "object",
              additionalProperties: { type: "string" },
              description: "Labels a namespace must carry, all of them.",
            }),
          ),
          matchExpressions: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  key: Type.String({ description: "Label key.", maxLength: 317 }),
                  operator: StringEnum(SelectorOperators, {
                    description: "In, NotIn, Exists or DoesNotExist.",
                  }),
                  values: Type.Optional(
                    Type.Array(Type.String({ description: "A label value.", maxLength: 63 }), {
                      description: "Values for In and NotIn.",
                      maxItems: 64,
                    }),
                  ),
                },
                { description: "One label requirement, as in a Kubernetes label selector." },
              ),
              { description: "Label requirements a namespace must meet, all of them.", maxItems: 16 },
            ),
          ),
        },
        {
          description:
            "Namespaces selected by their labels (a Kubernetes label selector; an empty selector selects every namespace).",
        },
      ),
    ),
  },
  {
    description:
      "The namespaces this policy applies to: those named in names, and those whose labels match selector.",
    ...cel({
      rule: "has(self.names) || has(self.selector)",
      message: "namespaces needs names or a selector",
    }),
  },
);

export const ApiAllowanceSchema = Type.Object(
  {
    api: Type.String({
      description:
        "The API: its application (client) ID GUID, or one of its identifier URIs (exact). A Microsoft first-party " +
        "API (Microsoft Graph, or any service principal owned by Microsoft's tenant) is allowed only by appId.",
      pattern: patterns.apiReference,
      maxLength: 256,
    }),
    appRoles: Type.Array(
      Type.String({
        description:
          "An app role value, or '*' for any value (never enough for a Microsoft first-party API).",
        pattern: patterns.appRoleValue,
        maxLength: 249,
      }),
      { description: "App role values that may be granted on this API.", minItems: 1, maxItems: 64 },
    ),
  },
  { description: "An API whose app roles may be granted, and which ones." },
);

export const ApimAllowanceSchema = Type.Object(
  {
    serviceId: Type.String({
      description:
        "ARM ID of an API Management service, or a prefix (resource group, subscription) that contains services.",
      pattern: armIdPatterns.any,
      maxLength: 1024,
    }),
    targets: Type.Optional(
      Type.Array(
        StringEnum(ApimTargetKinds, {
          description: "Api, Product, Operation, or Global (the service-wide policy every API inherits).",
        }),
        {
          description:
            "Where validate-jwt rules may be installed. Default: Api, Product and Operation. Global must be named.",
          maxItems: 4,
          default: [...DEFAULT_APIM_TARGETS],
        },
      ),
    ),
  },
  { description: "API Management services where validate-jwt rules may be installed." },
);

export const ApiRegistrationAllowanceSchema = Type.Object(
  {
    identifierUriPrefixes: Type.Array(
      Type.String({
        description:
          "An identifier URI, or a prefix ending at a path boundary: api://orders allows api://orders and " +
          "api://orders/v2, not api://orders-admin.",
        pattern: "^(api|https)://[^\\s]+$",
        maxLength: 246,
      }),
      { description: "Identifier URIs ApiRegistration objects may declare.", minItems: 1, maxItems: 64 },
    ),
  },
  {
    description:
      "The namespaces this policy selects may declare ApiRegistration objects (Entra app registrations) with " +
      "these identifier URIs. Without it, no registration is allowed.",
  },
);

export const AccessPolicySpecSchema = Type.Object(
  {
    namespaces: NamespaceSelectionSchema,
    logicApps: armIdList(
      "Logic Apps that may be bound (and whose system-assigned identity may be turned on): exact ARM IDs, or " +
        "prefixes such as a resource group. Compared segment by segment, case-insensitively.",
    ),
    userAssignedIdentities: armIdList(
      "User-assigned identities that may be attached to a Logic App: exact ARM IDs or prefixes.",
    ),
    scopes: armIdList(
      "Scopes at which roles may be granted: exact ARM IDs or prefixes (everything under them). See maxScopeBreadth.",
    ),
    maxScopeBreadth: Type.Optional(
      StringEnum(MaxScopeBreadths, {
        description:
          "The broadest scope a grant may be made at, even inside scopes: resource, resourceGroup (default) or " +
          "subscription. Management groups are never allowed.",
        default: "resourceGroup",
      }),
    ),
    roles: Type.Optional(
      Type.Array(
        Type.String({
          description: "A role: built-in name, role definition GUID, or role definition ID.",
          pattern: patterns.role,
          maxLength: 512,
        }),
        {
          description:
            "Roles that may be granted, compared by role definition GUID after resolution. Cannot allow Owner, " +
            "User Access Administrator, Role Based Access Control Administrator or any role that can write " +
            "Microsoft.Authorization: those need privilegedRoles.",
          maxItems: MAX_ENTRIES,
        },
      ),
    ),
    privilegedRoles: Type.Optional(
      Type.Array(Type.String({ description: "A role definition GUID.", pattern: patterns.guid }), {
        description:
          "Privileged roles (that can grant access, or with actions '*' at subscription scope) that may be granted, " +
          "by exact role definition GUID only. The only way to allow Owner, User Access Administrator and the like.",
        maxItems: 32,
      }),
    ),
    apis: Type.Optional(
      Type.Array(ApiAllowanceSchema, {
        description:
          "APIs whose app roles may be granted (Microsoft Graph app roles included, by appId and value).",
        maxItems: MAX_ENTRIES,
      }),
    ),
    apimServices: Type.Optional(
      Type.Array(ApimAllowanceSchema, {
        description: "API Management services where ApimJwtPolicy objects may install rules.",
        maxItems: MAX_ENTRIES,
      }),
    ),
    apiRegistrations: Type.Optional(ApiRegistrationAllowanceSchema),
  },
  {
    description:
      "Which namespaces this policy applies to and what their objects may do in Azure. Several policies that select " +
      "a namespace add up; anything no policy allows is refused.",
  },
);

export const AccessPolicyStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation last evaluated.", minimum: 0 }),
    ),
    selectedNamespaces: Type.Optional(
      Type.Integer({ description: "How many namespaces this policy selects now.", minimum: 0 }),
    ),
    namespaces: Type.Optional(
      Type.Array(Type.String({ maxLength: 63 }), {
        maxItems: MAX_LISTED_NAMESPACES,
        description: `The namespaces selected now, sorted; the first ${MAX_LISTED_NAMESPACES} only (see selectedNamespaces).`,
      }),
    ),
    conditions: Type.Optional(ConditionsSchema),
  },
  { description: "What the operator last saw of this policy." },
);

export type AccessPolicySpec = Static<typeof AccessPolicySpecSchema>;
export type AccessPolicyStatus = Static<typeof AccessPolicyStatusSchema>;
export type NamespaceSelection = Static<typeof NamespaceSelectionSchema>;
export type AzureAccessPolicy = KubeObject<AccessPolicySpec, AccessPolicyStatus>;
