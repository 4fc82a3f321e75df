/**
 * ApimJwtPolicy: a validate-jwt rule in API Management that admits a Logic App's identity, installed without
 * owning the rest of the policy document.
 */
import { Type, type Static } from "@sinclair/typebox";
import { ConditionsSchema } from "./conditions.ts";
import type { KubeObject } from "./metadata.ts";
import { patterns } from "./patterns.ts";
import { cel, StringEnum } from "./schema-helpers.ts";
import { DeletionPolicies } from "./binding.ts";

export const JWT_POLICY_KIND = "ApimJwtPolicy";
export const JWT_POLICY_PLURAL = "apimjwtpolicies";
export const MAX_AUDIENCES = 10;
export const MAX_REQUIRED_ROLES = 20;
export const MAX_ISSUERS = 10;
export const PolicyModes = ["Fragment", "Inline"] as const;

/**
 * APIM reads an attribute or text starting with "@" as a C# policy expression and "{{name}}" as a named value
 * (which could leak a secret into an error message). No escape is documented, so such values are refused here,
 * at admission, and again by the renderer.
 */
const literalOnly = (what: string) =>
  cel({
    rule: "!self.trim().startsWith('@') && !self.contains('{{')",
    message: `${what} must not start with '@' or contain '{{' (APIM would read it as a policy expression or named value)`,
  });

export const JwtPolicyTargetSchema = Type.Object(
  {
    productId: Type.Optional(
      Type.String({
        description: "Product ID: apply to every API in the product.",
        pattern: patterns.apimEntityId,
        maxLength: 256,
      }),
    ),
    apiId: Type.Optional(
      Type.String({
        description: "API ID: apply to one API.",
        pattern: patterns.apimEntityId,
        maxLength: 256,
      }),
    ),
    operationId: Type.Optional(
      Type.String({
        description: "Operation ID within apiId: apply to one operation.",
        pattern: patterns.apimEntityId,
        maxLength: 256,
      }),
    ),
  },
  {
    description:
      "Where the rule applies. Empty: the whole service (global policy). Otherwise exactly one of productId or apiId, " +
      "and operationId only with apiId.",
    ...cel(
      {
        rule: "!(has(self.productId) && has(self.apiId))",
        message: "target takes productId or apiId, not both",
      },
      {
        rule: "!has(self.operationId) || has(self.apiId)",
        message: "target.operationId needs target.apiId",
        fieldPath: ".operationId",
      },
    ),
  },
);

export const FailedValidationSchema = Type.Object(
  {
    httpCode: Type.Optional(
      Type.Integer({
        description: "HTTP status returned when validation fails (default 401).",
        minimum: 400,
        maximum: 599,
        default: 401,
      }),
    ),
    message: Type.Optional(
      Type.String({
        description: "Error message returned when validation fails.",
        maxLength: 1024,
        ...literalOnly("failedValidation.message"),
      }),
    ),
  },
  { description: "What a caller without a valid token gets." },
);

export const JwtPolicySpecSchema = Type.Object(
  {
    apimServiceId: Type.String({
      description: "ARM ID of the API Management service (Microsoft.ApiManagement/service/<name>).",
      pattern: patterns.apimServiceId,
      maxLength: 1024,
      ...cel({ rule: "self == oldSelf", message: "apimServiceId is immutable" }),
    }),
    target: Type.Optional(JwtPolicyTargetSchema),
    mode: Type.Optional(
      StringEnum(PolicyModes, {
        description:
          "Fragment (default): a policy fragment owned by this object plus one include-fragment in the target. " +
          "Inline: one marked validate-jwt element in the target's inbound section.",
        default: "Fragment",
      }),
    ),
    audiences: Type.Optional(
      Type.Array(
        Type.String({
          description: "An accepted aud claim value (e.g. api://orders).",
          minLength: 1,
          maxLength: 256,
          ...literalOnly("an audience"),
        }),
        {
          description:
            "Accepted audiences. Taken from the binding's app-role grants when bindingRef is set and this is empty.",
          maxItems: MAX_AUDIENCES,
        },
      ),
    ),
    tenantId: Type.Optional(
      Type.String({
        description:
          "Microsoft Entra tenant that issues the tokens. Defaults to the bound identity's tenant.",
        pattern: patterns.guid,
      }),
    ),
    issuers: Type.Optional(
      Type.Array(
        Type.String({
          description: "An accepted iss claim value.",
          minLength: 1,
          maxLength: 512,
          ...literalOnly("an issuer"),
        }),
        {
          description:
            "Accepted issuers. Default: the tenant's v1 (https://sts.windows.net/<tenant>/) and v2 " +
            "(https://login.microsoftonline.com/<tenant>/v2.0) issuers.",
          maxItems: MAX_ISSUERS,
        },
      ),
    ),
    openIdConfigUrl: Type.Optional(
      Type.String({
        description:
          "OpenID configuration URL. Default: https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration.",
        pattern: "^https://[^\\s]+$",
        maxLength: 2048,
      }),
    ),
    requiredRoles: Type.Optional(
      Type.Array(
        Type.String({
          description: "An app role value.",
          pattern: patterns.appRoleValue,
          maxLength: 249,
          ...literalOnly("a required role"),
        }),
        {
          description:
            "The roles claim must hold at least one of these. Taken from the binding when bindingRef is set and this is empty.",
          maxItems: MAX_REQUIRED_ROLES,
        },
      ),
    ),
    bindingRef: Type.Optional(
      Type.Object(
        {
          name: Type.String({
            description: "Name of a LogicAppIdentityBinding in this namespace.",
            pattern: patterns.objectName,
            maxLength: 253,
          }),
        },
        {
          description:
            "Take audiences, roles and tenant from this binding, and admit only its current principal (oid claim). " +
            "The policy follows the binding when its identity is recreated.",
        },
      ),
    ),
    failedValidation: Type.Optional(FailedValidationSchema),
    deletionPolicy: Type.Optional(
      StringEnum(DeletionPolicies, {
        description:
          "Delete (default): remove the rule on deletion, leaving the rest of the document as it was. Orphan: leave it.",
        default: "Delete",
      }),
    ),
  },
  {
    description: "Desired validate-jwt rule and where it goes.",
    ...cel(
      {
        rule: "has(self.bindingRef) || (has(self.audiences) && size(self.audiences) > 0)",
        message: "audiences must list at least one audience unless bindingRef is set",
        fieldPath: ".audiences",
        reason: "FieldValueRequired",
      },
      {
        rule: "has(self.bindingRef) || has(self.tenantId)",
        message: "tenantId is required unless bindingRef is set",
        fieldPath: ".tenantId",
        reason: "FieldValueRequired",
      },
    ),
  },
);

/** At most this many per-operation verdicts are kept in status; `operations` counts them all. */
export const MAX_ACCESS_VERDICTS = 20;
export const AccessVerdicts = ["Allowed", "Blocked", "Unknown"] as const;

export const AccessCheckStatusSchema = Type.Object(
  {
    operations: Type.Integer({
      description: "Operations of the target the check covers (only the first ones are evaluated).",
      minimum: 0,
    }),
    evaluated: Type.Integer({ description: "Operations evaluated.", minimum: 0 }),
    allowed: Type.Integer({ minimum: 0 }),
    blocked: Type.Integer({ minimum: 0 }),
    unknown: Type.Integer({ minimum: 0 }),
    verdicts: Type.Array(
      Type.Object({
        operation: Type.String({ description: "apiId/operationId.", maxLength: 520 }),
        verdict: StringEnum(AccessVerdicts, { description: "Allowed, Blocked or Unknown." }),
        message: Type.Optional(
          Type.String({
            description: "The first blocking element and its scope, or what was not evaluated.",
            maxLength: 1024,
          }),
        ),
      }),
      { maxItems: MAX_ACCESS_VERDICTS, description: "Blocked first, then unknown, then allowed." },
    ),
  },
  {
    description:
      "Would the bound identity's token get through each operation's inbound policy chain (docs/access-check.md).",
  },
);

export const JwtPolicyStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation last acted on.", minimum: 0 }),
    ),
    target: Type.Optional(
      Type.String({ description: "Where the rule is installed, e.g. api/orders or global." }),
    ),
    fragmentId: Type.Optional(
      Type.String({ description: "ID of the policy fragment this object owns (Fragment mode)." }),
    ),
    appliedFingerprint: Type.Optional(
      Type.String({ description: "SHA-256 of the rendered rule last observed in APIM." }),
    ),
    callerPrincipalId: Type.Optional(
      Type.String({ description: "Principal pinned through bindingRef (oid claim)." }),
    ),
    accessCheck: Type.Optional(AccessCheckStatusSchema),
    conditions: Type.Optional(ConditionsSchema),
  },
  { description: "What the operator observed in APIM." },
);

export type JwtPolicySpec = Static<typeof JwtPolicySpecSchema>;
export type JwtPolicyStatus = Static<typeof JwtPolicyStatusSchema>;
export type JwtPolicyTarget = Static<typeof JwtPolicyTargetSchema>;
export type AccessCheckStatus = Static<typeof AccessCheckStatusSchema>;
export type ApimJwtPolicy = KubeObject<JwtPolicySpec, JwtPolicyStatus>;
