/**
 * The CustomResourceDefinitions, built from the same schema values that give the TypeScript types.
 * `npm run gen:crds` writes them to crds/ and the Helm chart; a test fails when the committed YAML is stale.
 */
import type { TSchema } from "@sinclair/typebox";
import { Type } from "@sinclair/typebox";
import {
  ACCESS_POLICY_KIND,
  ACCESS_POLICY_PLURAL,
  AccessPolicySpecSchema,
  AccessPolicyStatusSchema,
} from "./access-policy.ts";
import {
  API_REGISTRATION_KIND,
  API_REGISTRATION_PLURAL,
  ApiRegistrationSpecSchema,
  ApiRegistrationStatusSchema,
} from "./api-registration.ts";
import { BINDING_KIND, BINDING_PLURAL, BindingSpecSchema, BindingStatusSchema } from "./binding.ts";
import { CATEGORY, GROUP, VERSION } from "./group.ts";
import {
  JWT_POLICY_KIND,
  JWT_POLICY_PLURAL,
  JwtPolicySpecSchema,
  JwtPolicyStatusSchema,
} from "./jwt-policy.ts";
import { toOpenApi } from "./schema-helpers.ts";

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

function crd(args: {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: TSchema;
  status: TSchema;
  columns: PrinterColumn[];
  scope?: "Namespaced" | "Cluster";
}): Record<string, unknown> {
  const root = Type.Object(
    {
      apiVersion: Type.String({ description: "API version of this object: identity.logicapp.dev/v1alpha1." }),
      kind: Type.String({ description: `Kind of this object: ${args.kind}.` }),
      metadata: Type.Object({}, { description: "Standard object metadata." }),
      spec: args.spec,
      status: Type.Optional(args.status),
    },
    { description: args.description },
  );
  const schema = toOpenApi(root);
  // The API server owns metadata's schema; a CRD may only constrain name/generateName.
  (schema.properties as Record<string, Record<string, unknown>>).metadata = { type: "object" };
  (schema.required as string[] | undefined)?.splice(0);
  schema.required = ["spec"];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${args.plural}.${GROUP}`,
      labels: {
        "app.kubernetes.io/name": "logicapp-identity-operator",
        "app.kubernetes.io/part-of": "logicapp-identity-operator",
      },
    },
    spec: {
      group: GROUP,
      scope: args.scope ?? "Namespaced",
      names: {
        kind: args.kind,
        listKind: `${args.kind}List`,
        plural: args.plural,
        singular: args.singular,
        shortNames: args.shortNames,
        categories: [CATEGORY],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          // AGE closes the default columns; `-o wide` appends the priority-1 ones after it, as for built-in kinds.
          additionalPrinterColumns: [
            ...args.columns.filter((c) => !c.priority),
            {
              name: "Age",
              type: "date",
              jsonPath: ".metadata.creationTimestamp",
              description: "Time since creation.",
            },
            ...args.columns.filter((c) => c.priority),
          ],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

const ready = (name: string): PrinterColumn[] => [
  {
    name: "Ready",
    type: "string",
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: `Whether the ${name} is in effect in Azure.`,
  },
];

export const bindingCrd = crd({
  kind: BINDING_KIND,
  plural: BINDING_PLURAL,
  singular: "logicappidentitybinding",
  shortNames: ["identitybinding", "identitybindings", "laib"],
  description:
    "LogicAppIdentityBinding gives a Logic App's managed identity its Azure RBAC roles and Microsoft Graph app roles, " +
    "and keeps them attached when the identity is recreated (new principalId).",
  spec: BindingSpecSchema,
  status: BindingStatusSchema,
  columns: [
    ...ready("binding"),
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      description: "Reason of the Ready condition.",
    },
    {
      name: "Principal",
      type: "string",
      jsonPath: ".status.principalId",
      description: "Identity's principal ID.",
    },
    {
      name: "Grants",
      type: "string",
      jsonPath: ".status.grants",
      description: "Grants in effect / desired.",
    },
    {
      name: "Identity",
      type: "string",
      jsonPath: ".status.identityType",
      description: "Identity type in use.",
      priority: 1,
    },
    {
      name: "Last-Heal",
      type: "date",
      jsonPath: ".status.lastHeal.time",
      description: "When the identity was last found recreated and the grants moved.",
      priority: 1,
    },
  ],
});

export const jwtPolicyCrd = crd({
  kind: JWT_POLICY_KIND,
  plural: JWT_POLICY_PLURAL,
  singular: "apimjwtpolicy",
  shortNames: ["jwtpolicy", "jwtpolicies"],
  description:
    "ApimJwtPolicy installs a validate-jwt rule in API Management (as a policy fragment and one include, or one marked " +
    "element) that admits tokens with the given audiences and app roles, and never touches the rest of the document.",
  spec: JwtPolicySpecSchema,
  status: JwtPolicyStatusSchema,
  columns: [
    ...ready("policy"),
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      description: "Reason of the Ready condition.",
      priority: 1,
    },
    {
      name: "Target",
      type: "string",
      jsonPath: ".status.target",
      description: "Where the rule is installed.",
    },
    { name: "Mode", type: "string", jsonPath: ".spec.mode", description: "Fragment or Inline.", priority: 1 },
    {
      name: "Binding",
      type: "string",
      jsonPath: ".spec.bindingRef.name",
      description: "The LogicAppIdentityBinding it follows.",
      priority: 1,
    },
  ],
});

export const accessPolicyCrd = crd({
  kind: ACCESS_POLICY_KIND,
  plural: ACCESS_POLICY_PLURAL,
  singular: "azureaccesspolicy",
  shortNames: ["accesspolicy", "accesspolicies", "aap"],
  scope: "Cluster",
  description:
    "AzureAccessPolicy, written by cluster administrators, says which namespaces may make the operator bind which " +
    "Logic Apps and identities, grant which roles at which scopes, grant which app roles, and install validate-jwt " +
    "rules in which API Management services. A namespace no policy selects may do nothing.",
  spec: AccessPolicySpecSchema,
  status: AccessPolicyStatusSchema,
  columns: [
    {
      name: "Namespaces",
      type: "string",
      jsonPath: ".spec.namespaces.names",
      description: "Namespaces selected by name.",
    },
    {
      name: "Max-Scope",
      type: "string",
      jsonPath: ".spec.maxScopeBreadth",
      description: "Broadest scope a grant may be made at.",
    },
    {
      name: "Selected",
      type: "integer",
      jsonPath: ".status.selectedNamespaces",
      description: "Namespaces selected now (by name or label).",
      priority: 1,
    },
    {
      name: "Selector",
      type: "string",
      jsonPath: ".spec.namespaces.selector",
      description: "Label selector of the namespaces.",
      priority: 1,
    },
  ],
});

export const apiRegistrationCrd = crd({
  kind: API_REGISTRATION_KIND,
  plural: API_REGISTRATION_PLURAL,
  singular: "apiregistration",
  shortNames: ["apireg", "apiregs"],
  description:
    "ApiRegistration declares an API's Microsoft Entra app registration (identifier URIs, access token version, app " +
    "roles) and its service principal; bindings and JWT policies can reference it instead of copying IDs and URIs.",
  spec: ApiRegistrationSpecSchema,
  status: ApiRegistrationStatusSchema,
  columns: [
    { name: "AppId", type: "string", jsonPath: ".status.appId", description: "Application (client) ID." },
    ...ready("registration"),
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      description: "Reason of the Ready condition.",
      priority: 1,
    },
    {
      name: "URI",
      type: "string",
      jsonPath: ".spec.identifierUris[0]",
      description: "First identifier URI.",
      priority: 1,
    },
    {
      name: "Token",
      type: "integer",
      jsonPath: ".status.tokenVersion",
      description: "Access token version.",
      priority: 1,
    },
  ],
});

export const allCrds = [bindingCrd, jwtPolicyCrd, accessPolicyCrd, apiRegistrationCrd];
