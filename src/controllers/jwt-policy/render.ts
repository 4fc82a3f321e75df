/**
 * Renders the validate-jwt rule an ApimJwtPolicy asks for. Output is deterministic (sorted, de-duplicated values,
 * fixed attribute order, 4-space indentation) so the same inputs always give the same bytes and fingerprint, and a
 * binding that lists its grants in another order does not look like drift.
 *
 * Every user-supplied value is XML-escaped. Escaping alone does not stop APIM from treating a value as code: a value
 * that starts with `@(` or `@{` is a policy expression (Learn "API Management policy expressions": expressions "can
 * be used as attribute values or text values in any API Management policy"), and `{{name}}` is replaced with a
 * named value (Learn "Use named values in Azure API Management policies"). No documented escape for a literal
 * leading `@` exists, so such values are refused (checkRuleInput) rather than escaped in a way APIM might not honour.
 */
import { escapeXml } from "./xml.ts";

export interface ValidateJwtInput {
  tenantId: string;
  audiences: readonly string[];
  /** Default: the tenant's v1 and v2 issuers. */
  issuers?: readonly string[];
  /** Default: the tenant's v2 OpenID configuration. */
  openIdConfigUrl?: string;
  /** Values for `<claim name="roles" match="any">`. */
  requiredRoles?: readonly string[];
  /** Pins the caller: `<claim name="oid" match="any">`. */
  callerPrincipalId?: string;
  failedValidation?: { httpCode?: number; message?: string };
}

export interface RenderOptions {
  /** Prefix for every line after the first (the rule's own indentation at its insertion point). */
  baseIndent?: string;
}

export const DEFAULT_FAILED_MESSAGE = "Unauthorized. Access token is missing or invalid.";
export const DEFAULT_FAILED_CODE = 401;

export function defaultOpenIdConfigUrl(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId}/v2.0/.well-known/openid-configuration`;
}

export function defaultIssuers(tenantId: string): string[] {
  return [`https://sts.windows.net/${tenantId}/`, `https://login.microsoftonline.com/${tenantId}/v2.0`];
}

export class UnsafeRuleInputError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("; "));
    this.problems = problems;
  }
}

// XML 1.0 Char production, minus nothing: anything outside it cannot be written even escaped.
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function valueProblem(field: string, value: string): string | undefined {
  if (NOT_XML_CHAR.test(value)) return `${field} contains a character XML cannot carry`;
  if (value.trimStart().startsWith("@"))
    return `${field} starts with "@", which APIM reads as a policy expression`;
  if (value.includes("{{")) return `${field} contains "{{", which APIM reads as a named-value reference`;
  return undefined;
}

/** Problems that make the input unrenderable, in field order; empty when the input is safe. */
export function checkRuleInput(input: ValidateJwtInput): string[] {
  const problems: string[] = [];
  const check = (field: string, value: string | undefined): void => {
    if (value === undefined) return;
    const p = valueProblem(field, value);
    if (p) problems.push(p);
  };
  check("tenantId", input.tenantId);
  if (input.tenantId.trim() === "") problems.push("tenantId is empty");
  if (uniqueSorted(input.audiences).length === 0)
    problems.push("no audience: validate-jwt needs at least one");
  input.audiences.forEach((v, i) => check(`audiences[${i}]`, v));
  input.issuers?.forEach((v, i) => check(`issuers[${i}]`, v));
  check("openIdConfigUrl", input.openIdConfigUrl);
  input.requiredRoles?.forEach((v, i) => check(`requiredRoles[${i}]`, v));
  check("callerPrincipalId", input.callerPrincipalId);
  check("failedValidation.message", input.failedValidation?.message);
  const code = input.failedValidation?.httpCode;
  if (code !== undefined && !(Number.isInteger(code) && code >= 400 && code <= 599)) {
    problems.push(`failedValidation.httpCode ${code} is not an HTTP error status`);
  }
  return problems;
}

function uniqueSorted(values: readonly string[] | undefined): string[] {
  const set = new Set((values ?? []).filter((v) => v !== ""));
  return [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Escapes for attribute values and text alike; line breaks and tabs as references so they survive normalisation. */
function esc(value: string): string {
  return escapeXml(value).replace(/[\t\n\r]/g, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`);
}

/** The `<validate-jwt>` element. Throws UnsafeRuleInputError when checkRuleInput reports problems. */
export function renderValidateJwt(input: ValidateJwtInput, options: RenderOptions = {}): string {
  const problems = checkRuleInput(input);
  if (problems.length > 0) throw new UnsafeRuleInputError(problems);
  const tenant = input.tenantId.trim();
  const code = input.failedValidation?.httpCode ?? DEFAULT_FAILED_CODE;
  const message = input.failedValidation?.message ?? DEFAULT_FAILED_MESSAGE;
  const issuers =
    input.issuers && input.issuers.length > 0 ? uniqueSorted(input.issuers) : defaultIssuers(tenant);
  const roles = uniqueSorted(input.requiredRoles);
  const url = input.openIdConfigUrl ?? defaultOpenIdConfigUrl(tenant);

  const lines: string[] = [];
  const add = (depth: number, text: string): void => {
    lines.push("    ".repeat(depth) + text);
  };
  add(
    0,
    `<validate-jwt header-name="Authorization" failed-validation-httpcode="${code}" ` +
      `failed-validation-error-message="${esc(message)}" require-scheme="Bearer">`,
  );
  add(1, `<openid-config url="${esc(url)}" />`);
  add(1, "<audiences>");
  for (const a of uniqueSorted(input.audiences)) add(2, `<audience>${esc(a)}</audience>`);
  add(1, "</audiences>");
  add(1, "<issuers>");
  for (const i of issuers) add(2, `<issuer>${esc(i)}</issuer>`);
  add(1, "</issuers>");
  if (roles.length > 0 || input.callerPrincipalId) {
    add(1, "<required-claims>");
    if (roles.length > 0) {
      add(2, `<claim name="roles" match="any">`);
      for (const r of roles) add(3, `<value>${esc(r)}</value>`);
      add(2, "</claim>");
    }
    if (input.callerPrincipalId) {
      add(2, `<claim name="oid" match="any">`);
      add(3, `<value>${esc(input.callerPrincipalId)}</value>`);
      add(2, "</claim>");
    }
    add(1, "</required-claims>");
  }
  add(0, "</validate-jwt>");
  return lines.join(`\n${options.baseIndent ?? ""}`);
}

/** The policy fragment document (Fragment mode): the rule wrapped in `<fragment>`. */
export function renderFragment(input: ValidateJwtInput): string {
  return `<fragment>\n    ${renderValidateJwt(input, { baseIndent: "    " })}\n</fragment>`;
}
