/**
 * The access token Microsoft Entra would issue to a managed identity for an API, as far as the inbound policies
 * look at it. Claim rules (Entra "Access token claims reference", access-token-claims-reference.md; wire facts
 * §11.6): `aud` is "always the client ID of the API" in v2.0 tokens and "the client ID or the resource URI used in
 * the request" in v1.0 ones; `iss` ends in `/v2.0` for v2.0 tokens (`https://login.microsoftonline.com/{tid}/v2.0`)
 * and is `https://sts.windows.net/{tid}/` for v1.0; `appid` exists only in v1.0 tokens and `azp` only in v2.0;
 * `roles` holds the values of the app roles assigned to the principal (Graph appRoleAssignment: a role "with a
 * non-empty value property … will be included in the roles claim"); `idtyp` is `app` for an app-only token.
 * The version is the API application's `api.requestedAccessTokenVersion` ("null and 1 result in v1.0 tokens").
 */

export type TokenVersion = 1 | 2;

export interface TokenInput {
  version: TokenVersion;
  tenantId: string;
  /** Object id of the identity's service principal: the `oid` (and, for app tokens, `sub`). */
  principalId: string;
  /** Client id (appId) of the identity; undefined when not known, which leaves client checks not evaluated. */
  clientId?: string;
  /** The API application's client id: `aud` of a v2.0 token. */
  apiAppId: string;
  /** The resource the caller asks a token for (identifier URI or appId): `aud` of a v1.0 token. */
  requestedResource: string;
  /** App role values assigned to the principal on the API, as Graph holds them. */
  roles: readonly string[];
}

export interface AccessToken {
  version: TokenVersion;
  /** String or string-array claims as computed. */
  claims: Readonly<Record<string, string | readonly string[]>>;
  /** Claims known to be absent (an app token has no `scp`; no `roles` when none is assigned). Any other claim
   * missing from `claims` is one the token has but we do not compute, so a check on it is not evaluated. */
  absent: readonly string[];
}

export function v1Issuer(tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`;
}

export function v2Issuer(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId}/v2.0`;
}

export function computeToken(t: TokenInput): AccessToken {
  const v1 = t.version === 1;
  const claims: Record<string, string | readonly string[]> = {
    aud: v1 ? t.requestedResource : t.apiAppId,
    iss: v1 ? v1Issuer(t.tenantId) : v2Issuer(t.tenantId),
    tid: t.tenantId,
    oid: t.principalId,
    sub: t.principalId,
    idtyp: "app",
    ver: v1 ? "1.0" : "2.0",
  };
  if (t.clientId !== undefined) claims[v1 ? "appid" : "azp"] = t.clientId;
  // Entra leaves `roles` out when nothing is assigned, rather than sending an empty array.
  const roles = [...new Set(t.roles.filter((r) => r !== ""))];
  if (roles.length > 0) claims.roles = roles;
  // An app-only token carries no delegated scopes; a v1.0 token has no azp, a v2.0 one no appid.
  const absent = ["scp", v1 ? "azp" : "appid", ...(roles.length === 0 ? ["roles"] : [])];
  return { version: t.version, claims, absent };
}
