/**
 * Would a managed identity's token get through an operation's inbound policy chain? A pure evaluator over the
 * effective policy documents of the scopes (global → product → API → operation) and a computed token
 * (decide-token.ts). It composes the chain where each `<base />` stands and evaluates what it understands:
 * `validate-jwt`, `validate-azure-ad-token`, an unconditional `return-response`, a `check-header` on
 * Authorization. Anything else that could stop or end a request is named "not evaluated", never guessed.
 *
 * Composition (Learn "Policies in Azure API Management", api-management-howto-policies.md; wire facts §16): scopes
 * run "from most broad to most narrow: Global, Workspace, Product, API, Operation"; "you control policy inheritance
 * and the policy evaluation order in each policy section by placement of the base element"; "If you remove the base
 * element at the API scope, only policies configured at the API scope will be applied"; at global scope `<base/>`
 * "has no effect". A scope without a policy document inherits its parent unchanged (as `<base />` alone would).
 *
 * Token checks (Learn validate-jwt-policy.md and validate-azure-ad-token-policy.md; wire facts §7.6 and §16):
 * audiences and issuers: "each value is tried until either all are exhausted (in which case validation fails) or
 * until one succeeds"; required-claims `match` "all" (default) = "every claim value in the policy must be present
 * in the token", "any" = "at least one claim value must be present"; `separator` splits a multi-valued claim.
 * The comparison is ordinal: `api://x` and `api://x/` are two audiences (Entra: web APIs "must only accept tokens
 * containing one of their AppId URIs as the aud claim").
 *
 * Uses the linear scanner of ../xml.ts only (no regular expressions over untrusted XML).
 */
import {
  attributeValue,
  childElements,
  decodeEntities,
  parsePolicyXml,
  type ParsedDocument,
  type XmlElement,
} from "../xml.ts";
import { v1Issuer, v2Issuer, type AccessToken } from "./decide-token.ts";

export type ScopeKind = "global" | "product" | "api" | "operation";

export interface ScopeRef {
  kind: ScopeKind;
  /** Product, API or operation id; absent for global. */
  id?: string;
}

/** The documents of one operation's chain. `undefined` xml: no policy at that scope (it inherits). */
export interface ChainDocuments {
  global?: string;
  /** At most one product per evaluation: the product of the caller's subscription decides which one runs. */
  product?: { id: string; xml?: string };
  api: { id: string; xml?: string };
  operation: { id: string; xml?: string };
  /** Policy fragments by id (lower case), for `<include-fragment>`; a missing one is not evaluated. */
  fragments: Readonly<Record<string, string>>;
}

export interface Finding {
  /** e.g. `validate-jwt`, `check-header name="X-Key"`. */
  element: string;
  scope: ScopeRef;
  /** Fragment the element came from, when it was included. */
  fragment?: string;
  reason: string;
}

export type Verdict =
  | { verdict: "allowed" }
  | { verdict: "blocked"; by: Finding; notEvaluated: Finding[] }
  | { verdict: "unknown"; notEvaluated: Finding[] };

// ---------------------------------------------------------------------------------------------------------------
// The effective inbound list

interface Item {
  el: XmlElement;
  doc: ParsedDocument;
  scope: ScopeRef;
  fragment?: string;
}

interface Level {
  scope: ScopeRef;
  xml: string | undefined;
}

/**
 * Expansion bounds: `<base/>` repeated at every level, or fragments including fragments many times, multiply; a
 * budget of visited elements (not only of kept ones) keeps the work linear in it whatever the documents hold.
 */
const MAX_ITEMS = 2000;
const MAX_STEPS = 20_000;
const MAX_FRAGMENT_DEPTH = 4;

interface Expansion {
  items: Item[];
  problems: Finding[];
}

function levelsOf(c: ChainDocuments): Level[] {
  const levels: Level[] = [{ scope: { kind: "global" }, xml: c.global }];
  if (c.product) levels.push({ scope: { kind: "product", id: c.product.id }, xml: c.product.xml });
  levels.push({ scope: { kind: "api", id: c.api.id }, xml: c.api.xml });
  levels.push({ scope: { kind: "operation", id: c.operation.id }, xml: c.operation.xml });
  return levels;
}

function expand(c: ChainDocuments): Expansion {
  const out: Expansion = { items: [], problems: [] };
  const levels = levelsOf(c);
  const parsed = new Map<number, ParsedDocument | null>();
  const docAt = (i: number): ParsedDocument | null | undefined => {
    if (levels[i]!.xml === undefined) return undefined;
    if (!parsed.has(i)) {
      const r = parsePolicyXml(levels[i]!.xml!);
      parsed.set(i, r.ok ? r.doc : null);
      if (!r.ok)
        out.problems.push({
          element: "policies",
          scope: levels[i]!.scope,
          reason: `the document is not well-formed (${r.error.message})`,
        });
    }
    return parsed.get(i);
  };
  const fragments = new Map<string, ParsedDocument | null>();
  const fragmentDoc = (id: string): ParsedDocument | null | undefined => {
    const key = id.toLowerCase();
    const xml = c.fragments[key];
    if (xml === undefined) return undefined;
    if (!fragments.has(key)) {
      const r = parsePolicyXml(xml, "fragment");
      fragments.set(key, r.ok ? r.doc : null);
    }
    return fragments.get(key);
  };

  let steps = 0;
  const push = (item: Item): boolean => {
    if (out.items.length >= MAX_ITEMS) return false;
    out.items.push(item);
    return true;
  };

  const walkChildren = (
    parent: XmlElement,
    doc: ParsedDocument,
    level: number,
    fragment: string | undefined,
    depth: number,
  ): boolean => {
    const scope = levels[level]!.scope;
    for (const el of childElements(parent)) {
      if (++steps > MAX_STEPS) return false;
      if (el.name === "base") {
        // Learn: at global scope `<base/>` has no effect.
        if (level > 0 && !expandLevel(level - 1)) return false;
        continue;
      }
      if (el.name === "include-fragment") {
        const id = attributeValue(el, "fragment-id")?.trim() ?? "";
        const f = id && !isDynamic(id) ? fragmentDoc(id) : undefined;
        if (!f || depth >= MAX_FRAGMENT_DEPTH) {
          const why = !id
            ? "names no fragment"
            : isDynamic(id)
              ? "names its fragment with an expression"
              : f === null
                ? "its fragment is not well-formed"
                : f === undefined
                  ? "its fragment was not read"
                  : "fragments nest too deep";
          if (!push({ el, doc, scope, ...(fragment ? { fragment } : {}) })) return false;
          out.problems.push({ element: `include-fragment "${id}"`, scope, reason: why });
          continue;
        }
        if (!walkChildren(f.root, f, level, id, depth + 1)) return false;
        continue;
      }
      if (!push({ el, doc, scope, ...(fragment ? { fragment } : {}) })) return false;
    }
    return true;
  };

  const expandLevel = (i: number): boolean => {
    const doc = docAt(i);
    // No document here: the scope inherits its parent's section unchanged.
    if (doc === undefined) return i === 0 ? true : expandLevel(i - 1);
    if (doc === null) return true;
    const inbound = childElements(doc.root, "inbound");
    if (inbound.length !== 1) {
      out.problems.push({
        element: "inbound",
        scope: levels[i]!.scope,
        reason: inbound.length === 0 ? "the document has no <inbound> section" : "several <inbound> sections",
      });
      return true;
    }
    return walkChildren(inbound[0]!, doc, i, undefined, 0);
  };

  if (!expandLevel(levels.length - 1))
    out.problems.push({
      element: "policies",
      scope: levels[levels.length - 1]!.scope,
      reason: `the effective chain is too large to evaluate (over ${MAX_ITEMS} elements or ${MAX_STEPS} steps)`,
    });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// One element

type Outcome =
  | { kind: "pass" }
  | { kind: "block"; reason: string }
  /** Not evaluated; can only stop the request, never end it successfully early. */
  | { kind: "mayBlock"; reason: string }
  /** Not evaluated; could also end the request before later elements run (so a later block is not certain). */
  | { kind: "opaque"; reason: string };

const PASS: Outcome = { kind: "pass" };

/**
 * Elements that neither deny a request for who the caller is nor answer it early (Learn policy reference). Throughput
 * limits (rate-limit*, quota*) can refuse a request for its count, which is not an access verdict; cors answers only
 * preflight requests, and a Logic App's HTTP action sends none.
 */
const HARMLESS = new Set([
  "set-header",
  "set-query-parameter",
  "set-variable",
  "set-backend-service",
  "set-method",
  "set-body",
  "rewrite-uri",
  "trace",
  "log-to-eventhub",
  "emit-metric",
  "cache-lookup-value",
  "cache-store-value",
  "cache-remove-value",
  "cors",
  "authentication-managed-identity",
  "authentication-basic",
  "authentication-certificate",
  "find-and-replace",
  "json-to-xml",
  "xml-to-json",
  "rate-limit",
  "rate-limit-by-key",
  "quota",
  "quota-by-key",
  "limit-concurrency",
  "forward-request",
]);

/** May refuse the request for something about it other than the token; never answers early. */
const MAY_BLOCK = new Set([
  "ip-filter",
  "validate-client-certificate",
  "validate-headers",
  "validate-parameters",
]);

/** Learn "API Management policy expressions": `@(...)`/`@{...}` are C#; `{{name}}` is a named value. */
function isDynamic(value: string): boolean {
  const v = value.trimStart();
  return v.startsWith("@(") || v.startsWith("@{") || value.includes("{{");
}

function textOf(doc: ParsedDocument, el: XmlElement): string {
  let s = "";
  for (const c of el.children) {
    if (c.kind === "text") s += decodeEntities(doc.source.slice(c.start, c.end));
    else if (c.kind === "cdata") s += doc.source.slice(c.start + 9, c.end - 3);
  }
  return s.trim();
}

function valuesOf(doc: ParsedDocument, parent: XmlElement | undefined, child: string): string[] {
  return parent ? childElements(parent, child).map((e) => textOf(doc, e)) : [];
}

function claimSet(token: AccessToken, name: string, separator: string | undefined): string[] | undefined {
  const raw = token.claims[name];
  if (raw === undefined) return undefined;
  const list = typeof raw === "string" ? [raw] : [...raw];
  return separator ? list.flatMap((v) => v.split(separator)) : list;
}

const list = (xs: readonly string[]) => xs.map((x) => `"${x}"`).join(", ");

/** `<audiences>`: the token's aud must equal one listed value (ordinal). */
function checkAudiences(doc: ParsedDocument, el: XmlElement, token: AccessToken): Outcome | undefined {
  const audiencesEl = childElements(el, "audiences")[0];
  if (!audiencesEl) return undefined;
  const all = valuesOf(doc, audiencesEl, "audience");
  const aud = token.claims.aud;
  if (typeof aud !== "string") return { kind: "mayBlock", reason: "the token's audience is not known" };
  if (all.includes(aud)) return PASS;
  if (all.some(isDynamic))
    return { kind: "mayBlock", reason: "an audience is a policy expression or named value" };
  return {
    kind: "block",
    reason: `the token's aud "${aud}" (v${token.version}.0 token) is not among its audiences ${list(all)}`,
  };
}

function checkClaims(doc: ParsedDocument, el: XmlElement, token: AccessToken): Outcome {
  const rc = childElements(el, "required-claims")[0];
  if (!rc) return PASS;
  for (const claim of childElements(rc, "claim")) {
    const name = attributeValue(claim, "name") ?? "";
    const match = (attributeValue(claim, "match") ?? "all").trim().toLowerCase();
    const separator = attributeValue(claim, "separator");
    const wanted = valuesOf(doc, claim, "value");
    if (isDynamic(name) || wanted.some(isDynamic) || (separator !== undefined && isDynamic(separator)))
      return { kind: "mayBlock", reason: `claim "${name}" uses a policy expression or named value` };
    if (match !== "all" && match !== "any")
      return { kind: "mayBlock", reason: `claim "${name}" has match="${match}"` };
    if (token.claims[name] === undefined && !token.absent.includes(name))
      return { kind: "mayBlock", reason: `claim "${name}" is not one the operator computes for the token` };
    const have = claimSet(token, name, separator === "" ? undefined : separator);
    const present = (v: string) => have?.includes(v) ?? false;
    // A claim element with no values asks only that the claim be there.
    const ok =
      wanted.length === 0
        ? have !== undefined
        : match === "all"
          ? wanted.every(present)
          : wanted.some(present);
    if (!ok) {
      const got = have === undefined ? "has no such claim" : `has ${list(have)}`;
      const need =
        wanted.length === 0
          ? "the claim"
          : match === "all"
            ? `all of ${list(wanted)}`
            : `one of ${list(wanted)}`;
      return { kind: "block", reason: `claim "${name}" (match ${match}) needs ${need}; the token ${got}` };
    }
  }
  return PASS;
}

interface EntraConfig {
  tenant: string;
  v2: boolean;
}

/** An Entra OpenID configuration URL (wire facts §11.6): `https://login.microsoftonline.com/{tenant}[/v2.0]/.well-known/openid-configuration`. */
function entraConfig(url: string): EntraConfig | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== "https:" || u.hostname.toLowerCase() !== "login.microsoftonline.com") return undefined;
  const parts = u.pathname.split("/").filter((p) => p !== "");
  if (parts.length === 3 && parts[1] === ".well-known" && parts[2] === "openid-configuration")
    return { tenant: parts[0]!, v2: false };
  if (
    parts.length === 4 &&
    parts[1] === "v2.0" &&
    parts[2] === ".well-known" &&
    parts[3] === "openid-configuration"
  )
    return { tenant: parts[0]!, v2: true };
  return undefined;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where the token is read from: the Logic App's HTTP action sends it as `Authorization: Bearer <token>`. */
function checkTokenSource(el: XmlElement, defaultHeader: string | undefined): Outcome {
  const tokenValue = attributeValue(el, "token-value");
  if (tokenValue !== undefined)
    return { kind: "mayBlock", reason: "reads the token from an expression (token-value)" };
  const query = attributeValue(el, "query-parameter-name");
  if (query !== undefined)
    return {
      kind: "block",
      reason: `reads the token from query parameter "${query}"; the Logic App sends it in the Authorization header`,
    };
  const header = attributeValue(el, "header-name") ?? defaultHeader;
  if (header === undefined)
    return { kind: "mayBlock", reason: "names no header, query parameter or token value" };
  if (isDynamic(header)) return { kind: "mayBlock", reason: "names its header with an expression" };
  if (header.trim().toLowerCase() !== "authorization")
    return {
      kind: "block",
      reason: `reads the token from header "${header}"; the Logic App sends it in the Authorization header`,
    };
  return PASS;
}

function validateJwt(doc: ParsedDocument, el: XmlElement, token: AccessToken): Outcome {
  const source = checkTokenSource(el, undefined);
  if (source.kind !== "pass") return source;
  const scheme = attributeValue(el, "require-scheme");
  if (scheme !== undefined && !isDynamic(scheme) && scheme.trim().toLowerCase() !== "bearer")
    return { kind: "block", reason: `requires the scheme "${scheme}"; the Logic App sends "Bearer"` };
  const audiences = checkAudiences(doc, el, token);
  // Learn: "At least one audience must be specified"; APIM refuses to save without one, so this is not ours to judge.
  if (!audiences) return { kind: "mayBlock", reason: "lists no audiences" };
  if (audiences.kind !== "pass") return audiences;

  const urlEl = childElements(el, "openid-config")[0];
  const url = urlEl ? attributeValue(urlEl, "url") : undefined;
  const entra = url !== undefined && !isDynamic(url) ? entraConfig(url.trim()) : undefined;
  const iss = String(token.claims.iss);
  const issuersEl = childElements(el, "issuers")[0];
  if (issuersEl) {
    const issuers = valuesOf(doc, issuersEl, "issuer");
    if (!issuers.includes(iss)) {
      if (issuers.some(isDynamic))
        return { kind: "mayBlock", reason: "an issuer is a policy expression or named value" };
      return {
        kind: "block",
        reason: `the token's iss "${iss}" (v${token.version}.0 token) is not among its issuers ${list(issuers)}`,
      };
    }
  } else if (entra && GUID.test(entra.tenant)) {
    // The OpenID configuration is where "signing keys and issuer can be obtained": Entra's v1 document names
    // https://sts.windows.net/{tid}/, its v2 document https://login.microsoftonline.com/{tid}/v2.0.
    const expected = entra.v2 ? v2Issuer(entra.tenant) : v1Issuer(entra.tenant);
    if (expected.toLowerCase() !== iss.toLowerCase())
      return {
        kind: "block",
        reason: `no <issuers>, so the issuer comes from its OpenID configuration (${expected}); the token's iss is "${iss}"`,
      };
  } else {
    return {
      kind: "mayBlock",
      reason:
        "no <issuers> and no Entra OpenID configuration of a tenant id: the accepted issuer is not known",
    };
  }
  const claims = checkClaims(doc, el, token);
  if (claims.kind !== "pass") return claims;
  // Entra signs every token with the keys its OpenID configuration publishes; other keys are not ours to judge.
  const unsigned = (attributeValue(el, "require-signed-tokens") ?? "true").trim().toLowerCase() === "false";
  if (!entra && !unsigned)
    return { kind: "mayBlock", reason: "its signing keys do not come from an Entra OpenID configuration" };
  return PASS;
}

function validateAzureAdToken(doc: ParsedDocument, el: XmlElement, token: AccessToken): Outcome {
  // Learn: header-name defaults to Authorization.
  const source = checkTokenSource(el, "Authorization");
  if (source.kind !== "pass") return source;
  const tenant = attributeValue(el, "tenant-id")?.trim();
  if (tenant === undefined || isDynamic(tenant) || !GUID.test(tenant))
    return { kind: "mayBlock", reason: "its tenant-id is not a tenant GUID" };
  if (tenant.toLowerCase() !== String(token.claims.tid).toLowerCase())
    return {
      kind: "block",
      reason: `its tenant-id is ${tenant}; the token is issued by tenant ${String(token.claims.tid)}`,
    };
  // Which claim is compared with client-application-ids is not documented; for a managed identity both candidates
  // (appid in v1.0, azp in v2.0) hold its client id, so the answer does not depend on it.
  const client = token.claims.appid ?? token.claims.azp;
  const clientIds = valuesOf(doc, childElements(el, "client-application-ids")[0], "application-id");
  if (clientIds.length === 0) return { kind: "mayBlock", reason: "lists no client-application-ids" };
  if (typeof client !== "string")
    return { kind: "mayBlock", reason: "the identity's client id is not known" };
  if (!clientIds.some((c) => c.toLowerCase() === client.toLowerCase())) {
    if (clientIds.some(isDynamic))
      return { kind: "mayBlock", reason: "a client application id is a policy expression or named value" };
    return {
      kind: "block",
      reason: `the identity's client id ${client} is not among its client-application-ids ${list(clientIds)}`,
    };
  }
  const audiences = checkAudiences(doc, el, token);
  if (!audiences)
    return { kind: "mayBlock", reason: "lists no audiences (what it compares aud with is not documented)" };
  if (audiences.kind !== "pass") return audiences;
  return checkClaims(doc, el, token);
}

function checkHeader(doc: ParsedDocument, el: XmlElement): Outcome {
  const name = attributeValue(el, "name") ?? "";
  if (name.trim().toLowerCase() !== "authorization")
    return {
      kind: "mayBlock",
      reason: `checks header "${name}", which the caller's request is not known to carry`,
    };
  const values = valuesOf(doc, el, "value");
  // Learn check-header: without <value> elements only the header's presence is checked.
  if (values.length === 0) return PASS;
  if (values.some(isDynamic))
    return { kind: "mayBlock", reason: "a value is a policy expression or named value" };
  return {
    kind: "block",
    reason: `requires Authorization to be one of ${values.length} fixed value(s); a fresh bearer token never is`,
  };
}

function hasOnlyHarmless(el: XmlElement): boolean {
  for (const c of childElements(el)) {
    if (c.name === "when" || c.name === "otherwise") {
      if (!hasOnlyHarmless(c)) return false;
    } else if (!HARMLESS.has(c.name)) return false;
  }
  return true;
}

function outcomeOf(item: Item, token: AccessToken): Outcome {
  const { el, doc } = item;
  switch (el.name) {
    case "validate-jwt":
      return validateJwt(doc, el, token);
    case "validate-azure-ad-token":
      return validateAzureAdToken(doc, el, token);
    case "return-response":
      return { kind: "block", reason: "answers every request itself, before the backend" };
    case "check-header":
      return checkHeader(doc, el);
    case "choose":
      return hasOnlyHarmless(el)
        ? PASS
        : {
            kind: "opaque",
            reason: "its conditions are not evaluated and a branch may stop or answer the request",
          };
    case "include-fragment":
      return { kind: "opaque", reason: "its fragment is not evaluated" };
    default:
      if (HARMLESS.has(el.name)) return PASS;
      if (MAY_BLOCK.has(el.name))
        return { kind: "mayBlock", reason: "depends on the request, not the token" };
      return { kind: "opaque", reason: "this element is not evaluated" };
  }
}

function describe(el: XmlElement): string {
  const name = el.name === "check-header" ? attributeValue(el, "name") : undefined;
  return name !== undefined ? `check-header name="${name}"` : el.name;
}

/**
 * The verdict for one chain. Blocked: the first element that refuses the token, unless something not evaluated
 * before it could have answered the request first (then unknown). Allowed: every element passed or is harmless.
 */
export function evaluateChain(chain: ChainDocuments, token: AccessToken): Verdict {
  const { items, problems } = expand(chain);
  const notEvaluated: Finding[] = [...problems];
  // A scope that could not be read may hold anything, anywhere in the chain.
  let opaqueBefore = problems.some((p) => !p.element.startsWith("include-fragment"));
  for (const item of items) {
    if (item.el.name === "include-fragment") {
      opaqueBefore = true;
      continue;
    }
    const o = outcomeOf(item, token);
    if (o.kind === "pass") continue;
    const finding: Finding = {
      element: describe(item.el),
      scope: item.scope,
      ...(item.fragment ? { fragment: item.fragment } : {}),
      reason: o.reason,
    };
    if (o.kind === "block") {
      return opaqueBefore
        ? { verdict: "unknown", notEvaluated: [...notEvaluated, finding] }
        : { verdict: "blocked", by: finding, notEvaluated };
    }
    notEvaluated.push(finding);
    if (o.kind === "opaque") opaqueBefore = true;
  }
  return notEvaluated.length === 0 ? { verdict: "allowed" } : { verdict: "unknown", notEvaluated };
}

export function scopeLabel(s: ScopeRef): string {
  return s.kind === "global" ? "global scope" : `${s.kind} "${s.id}"`;
}

/** One line a person can act on: which element, where, and why. */
export function describeFinding(f: Finding): string {
  const via = f.fragment ? ` (fragment "${f.fragment}")` : "";
  return `${f.element} at ${scopeLabel(f.scope)}${via}: ${f.reason}`;
}
