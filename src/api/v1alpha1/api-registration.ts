/**
 * ApiRegistration: the API's Entra app registration (identifier URI, token version, app roles) and its service
 * principal, declared, so a GitOps repository holds the chain from app registration to APIM rule (issue 13).
 */
import { Type, type Static } from "@sinclair/typebox";
import { ConditionsSchema } from "./conditions.ts";
import type { KubeObject } from "./metadata.ts";
import { patterns } from "./patterns.ts";
import { cel, StringEnum } from "./schema-helpers.ts";

export const API_REGISTRATION_KIND = "ApiRegistration";
export const API_REGISTRATION_PLURAL = "apiregistrations";
export const MAX_APP_ROLES = 64;
export const MAX_IDENTIFIER_URIS = 8;

export const AllowedMemberTypes = ["Application", "User"] as const;
export const RegistrationDeletionPolicies = ["Orphan", "Delete"] as const;
export const TokenVersions = [1, 2] as const;

/**
 * `api://…` or `https://…`, nothing after the scheme that a token could not carry verbatim, and no trailing slash:
 * a v1 token's `aud` is the identifier URI exactly as registered, so `api://orders/` and `api://orders` are two
 * audiences and validate-jwt rejects one of them (the most common runtime failure of the manual setup).
 */
export const identifierUriPattern = "^(api|https)://[A-Za-z0-9][-A-Za-z0-9._~:/?#@!$&'()*+,;=%]{0,240}$";

export const AppRoleSpecSchema = Type.Object(
  {
    value: Type.String({
      description:
        "The value tokens carry in their roles claim (e.g. AddRole). Unique within the registration. Its id is " +
        "derived from (namespace, name, value), so a new value is a new role: the old one is disabled, then removed.",
      pattern: patterns.appRoleValue,
      maxLength: 249,
    }),
    displayName: Type.String({
      description: "Shown in the portal and consent screens; may change freely (the id stays).",
      minLength: 1,
      maxLength: 256,
    }),
    description: Type.Optional(Type.String({ description: "What the role allows.", maxLength: 1024 })),
    allowedMemberTypes: Type.Optional(
      Type.Array(StringEnum(AllowedMemberTypes, { description: "Application or User." }), {
        description:
          "Who may be granted the role. Default: Application (service principals, e.g. Logic Apps).",
        minItems: 1,
        maxItems: 2,
        default: ["Application"],
        "x-kubernetes-list-type": "set",
      }),
    ),
    enabled: Type.Optional(
      Type.Boolean({
        description:
          "False disables the role (tokens stop carrying it) without deleting it; removing it from the list " +
          "disables it first and deletes it in a second write (Graph's rule).",
        default: true,
      }),
    ),
  },
  { description: "An app role of the API." },
);

export const ApiRegistrationSpecSchema = Type.Object(
  {
    displayName: Type.String({
      description: "The application's display name.",
      minLength: 1,
      maxLength: 256,
    }),
    identifierUris: Type.Array(
      Type.String({
        description:
          "An Application ID URI: api://… or https://… on a verified domain, without a trailing slash.",
        pattern: identifierUriPattern,
        maxLength: 246,
        ...cel({
          rule: "!self.endsWith('/')",
          message:
            "an identifier URI must not end with '/': tokens carry the URI exactly as registered, and a trailing " +
            "slash makes the audience differ from what callers request (validate-jwt then rejects every token)",
        }),
      }),
      {
        description:
          "Identifier URIs (Expose an API). Unique in the tenant; the first is the v1 token audience.",
        minItems: 1,
        maxItems: MAX_IDENTIFIER_URIS,
        "x-kubernetes-list-type": "set",
      },
    ),
    requestedAccessTokenVersion: Type.Optional(
      Type.Unsafe<1 | 2>({
        type: "integer",
        enum: [...TokenVersions],
        default: 1,
        description:
          "api.requestedAccessTokenVersion. 1 (default, as the portal creates it): aud is the identifier URI, iss " +
          "https://sts.windows.net/<tenant>/. 2: aud is the application (client) ID, iss " +
          "https://login.microsoftonline.com/<tenant>/v2.0. JWT policies that follow the registration follow this.",
      }),
    ),
    appRoles: Type.Optional(
      Type.Array(AppRoleSpecSchema, {
        description:
          "The application's app roles, all of them (the list is authoritative: a role on the application that " +
          "is not listed is disabled, then removed). Values are unique.",
        maxItems: MAX_APP_ROLES,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["value"],
      }),
    ),
    deletionPolicy: Type.Optional(
      StringEnum(RegistrationDeletionPolicies, {
        description:
          "Orphan (default): deleting this object leaves the application (every caller of the API depends on it). " +
          "Delete: soft-delete an application this object created (restorable for 30 days); refused while any " +
          "LogicAppIdentityBinding still grants one of its roles.",
        default: "Orphan",
      }),
    ),
  },
  { description: "The API's app registration." },
);

export const AppRoleStatusSchema = Type.Object(
  {
    value: Type.String({ description: "App role value." }),
    id: Type.String({ description: "App role id (GUID) on the application." }),
    enabled: Type.Boolean({ description: "isEnabled as observed." }),
  },
  { description: "One app role as observed on the application." },
);

export const ApiRegistrationStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation last acted on.", minimum: 0 }),
    ),
    appId: Type.Optional(Type.String({ description: "Application (client) ID: the v2 token audience." })),
    objectId: Type.Optional(Type.String({ description: "Object ID of the application." })),
    servicePrincipalId: Type.Optional(Type.String({ description: "Object ID of its service principal." })),
    tenantId: Type.Optional(Type.String({ description: "Tenant that owns the application." })),
    identifierUris: Type.Optional(
      Type.Array(Type.String(), {
        description: "Identifier URIs as observed.",
        maxItems: MAX_IDENTIFIER_URIS,
      }),
    ),
    tokenVersion: Type.Optional(Type.Integer({ description: "Access token version as observed (1 or 2)." })),
    appRoles: Type.Optional(
      Type.Array(AppRoleStatusSchema, { description: "App roles as observed.", maxItems: MAX_APP_ROLES * 2 }),
    ),
    adopted: Type.Optional(
      Type.Boolean({
        description: "True when the application existed before this object (never deleted by it).",
      }),
    ),
    conditions: Type.Optional(ConditionsSchema),
  },
  { description: "What the operator observed in Microsoft Graph." },
);

export type ApiRegistrationSpec = Static<typeof ApiRegistrationSpecSchema>;
export type ApiRegistrationStatus = Static<typeof ApiRegistrationStatusSchema>;
export type AppRoleSpec = Static<typeof AppRoleSpecSchema>;
export type ApiRegistration = KubeObject<ApiRegistrationSpec, ApiRegistrationStatus>;
