/**
 * Policy chains and the verdict the APIM documentation gives for each (sources in decide-access.ts): where `<base/>`
 * stands, products, operation overrides, v1/v2 tokens, match any/all, several audiences, claims with separators.
 */
import { describe, expect, it } from "vitest";
import {
  describeFinding,
  evaluateChain,
  type ChainDocuments,
  type ScopeKind,
  type Verdict,
} from "./decide-access.ts";
import { computeToken, type TokenInput } from "./decide-token.ts";

const TID = "11111111-1111-1111-1111-111111111111";
const OTHER_TID = "99999999-9999-9999-9999-999999999999";
const PID = "22222222-2222-2222-2222-222222222222";
const CLIENT = "33333333-3333-3333-3333-333333333333";
const API_APP = "44444444-4444-4444-4444-444444444444";
const URI = "api://payments-api";
const V2_CONFIG = `https://login.microsoftonline.com/${TID}/v2.0/.well-known/openid-configuration`;
const V1_CONFIG = `https://login.microsoftonline.com/${TID}/.well-known/openid-configuration`;
const V1_ISS = `https://sts.windows.net/${TID}/`;
const V2_ISS = `https://login.microsoftonline.com/${TID}/v2.0`;

const tokenInput: TokenInput = {
  version: 1,
  tenantId: TID,
  principalId: PID,
  clientId: CLIENT,
  apiAppId: API_APP,
  requestedResource: URI,
  roles: ["Orders.Read"],
};

const policies = (inbound: string) =>
  `<policies>\n  <inbound>\n    ${inbound}\n  </inbound>\n  <backend>\n    <base />\n  </backend>\n  <outbound>\n    <base />\n  </outbound>\n  <on-error>\n    <base />\n  </on-error>\n</policies>`;

interface Jwt {
  audiences?: string[];
  issuers?: string[] | null;
  config?: string | null;
  claims?: string;
  attrs?: string;
}
/** A validate-jwt as the portal writes it; by default the one the operator renders for TID/URI. */
const jwt = (o: Jwt = {}) => {
  const config = o.config === undefined ? V2_CONFIG : o.config;
  const issuers = o.issuers === undefined ? [V1_ISS, V2_ISS] : o.issuers;
  return (
    `<validate-jwt ${o.attrs ?? 'header-name="Authorization" require-scheme="Bearer"'} failed-validation-httpcode="401">` +
    (config ? `<openid-config url="${config}" />` : "") +
    `<audiences>${(o.audiences ?? [URI]).map((a) => `<audience>${a}</audience>`).join("")}</audiences>` +
    (issuers ? `<issuers>${issuers.map((i) => `<issuer>${i}</issuer>`).join("")}</issuers>` : "") +
    (o.claims ? `<required-claims>${o.claims}</required-claims>` : "") +
    `</validate-jwt>`
  );
};
const claim = (name: string, values: string[], attrs = "") =>
  `<claim name="${name}"${attrs}>${values.map((v) => `<value>${v}</value>`).join("")}</claim>`;
const aad = (inner: string, tenant = TID) =>
  `<validate-azure-ad-token tenant-id="${tenant}">${inner}</validate-azure-ad-token>`;
const clientIds = (...ids: string[]) =>
  `<client-application-ids>${ids.map((i) => `<application-id>${i}</application-id>`).join("")}</client-application-ids>`;
const auds = (...a: string[]) =>
  `<audiences>${a.map((x) => `<audience>${x}</audience>`).join("")}</audiences>`;

const BAD_AUD = jwt({ audiences: ["api://someone-else"] });

interface Case {
  name: string;
  global?: string;
  product?: { id: string; xml?: string };
  api?: string;
  operation?: string;
  fragments?: Record<string, string>;
  token?: Partial<TokenInput>;
  expect: "allowed" | "unknown" | { blocked: ScopeKind; element?: string; fragment?: string; says?: string };
  /** For unknown verdicts: a word the not-evaluated list must contain. */
  notes?: string;
}

const CASES: Case[] = [
  // --- base positions
  { name: "API rule for the v1 audience, base kept", api: policies(`<base />${jwt()}`), expect: "allowed" },
  {
    name: "global rule with another audience blocks through the API's base",
    global: policies(BAD_AUD),
    api: policies(`<base />${jwt()}`),
    expect: { blocked: "global", element: "validate-jwt", says: "api://someone-else" },
  },
  {
    name: "API without <base/> drops the global rule",
    global: policies(BAD_AUD),
    api: policies(jwt()),
    expect: "allowed",
  },
  {
    name: "operation without <base/> drops API and global",
    global: policies(BAD_AUD),
    api: policies(`<base />${BAD_AUD}`),
    operation: policies(jwt()),
    expect: "allowed",
  },
  {
    name: "scope without a document inherits its parent",
    global: policies(BAD_AUD),
    operation: policies(`<base />`),
    expect: { blocked: "global" },
  },
  {
    name: "element before <base/> runs before the parents",
    global: policies(BAD_AUD),
    api: policies(`<return-response><set-status code="200" /></return-response><base />`),
    expect: { blocked: "api", element: "return-response" },
  },
  {
    name: "element after <base/> runs after the parents",
    global: policies(BAD_AUD),
    api: policies(`<base /><return-response />`),
    expect: { blocked: "global", element: "validate-jwt" },
  },
  { name: "<base/> at global scope has no effect", global: policies(`<base />${jwt()}`), expect: "allowed" },
  // --- products
  {
    name: "product rule with another audience blocks",
    product: { id: "gold", xml: policies(`<base />${BAD_AUD}`) },
    api: policies(`<base />${jwt()}`),
    expect: { blocked: "product", says: "someone-else" },
  },
  {
    name: "product rule dropped by an API without <base/>",
    product: { id: "gold", xml: policies(BAD_AUD) },
    api: policies(jwt()),
    expect: "allowed",
  },
  {
    name: "product without <base/> drops the global rule",
    global: policies(BAD_AUD),
    product: { id: "gold", xml: policies(jwt()) },
    expect: "allowed",
  },
  {
    name: "product with no document passes the global rule through",
    global: policies(BAD_AUD),
    product: { id: "gold" },
    api: policies(`<base />`),
    expect: { blocked: "global" },
  },
  // --- operation overrides
  {
    name: "operation adds a rule for another audience after base",
    api: policies(`<base />${jwt()}`),
    operation: policies(`<base />${BAD_AUD}`),
    expect: { blocked: "operation" },
  },
  {
    name: "operation replaces a bad API rule",
    api: policies(BAD_AUD),
    operation: policies(jwt()),
    expect: "allowed",
  },
  // --- token versions and audiences
  {
    name: "v2 token: aud is the API's client id, the rule's api:// audience never matches",
    api: policies(jwt()),
    token: { version: 2 },
    expect: { blocked: "api", says: API_APP },
  },
  {
    name: "v2 token, rule lists both the URI and the client id",
    api: policies(jwt({ audiences: [URI, API_APP] })),
    token: { version: 2 },
    expect: "allowed",
  },
  {
    name: "several audiences, the v1 URI is the last one tried",
    api: policies(jwt({ audiences: ["api://a", "api://b", URI] })),
    expect: "allowed",
  },
  {
    name: "trailing slash is another audience",
    api: policies(jwt({ audiences: [`${URI}/`] })),
    expect: { blocked: "api", says: `"${URI}/"` },
  },
  {
    name: "v1 token against a v2-only issuer list",
    api: policies(jwt({ issuers: [V2_ISS] })),
    expect: { blocked: "api", says: "iss" },
  },
  {
    name: "v2 token against the v2 issuer",
    api: policies(jwt({ audiences: [API_APP], issuers: [V2_ISS] })),
    token: { version: 2 },
    expect: "allowed",
  },
  {
    name: "no <issuers>: the v2 OpenID configuration's issuer refuses a v1 token",
    api: policies(jwt({ issuers: null })),
    expect: { blocked: "api", says: "OpenID configuration" },
  },
  {
    name: "no <issuers>: the v1 OpenID configuration's issuer accepts a v1 token",
    api: policies(jwt({ issuers: null, config: V1_CONFIG })),
    expect: "allowed",
  },
  {
    name: "no <issuers> and a non-Entra configuration: not evaluated",
    api: policies(jwt({ issuers: null, config: "https://idp.example.com/.well-known/openid-configuration" })),
    expect: "unknown",
    notes: "issuer",
  },
  {
    name: "issuer-signing-keys instead of Entra's configuration: not evaluated",
    api: policies(jwt({ config: null })),
    expect: "unknown",
    notes: "signing keys",
  },
  // --- required claims
  {
    name: "match any: one of two roles is enough",
    api: policies(jwt({ claims: claim("roles", ["Orders.Read", "Orders.Write"], ' match="any"') })),
    expect: "allowed",
  },
  {
    name: "match all: both roles needed, one assigned",
    api: policies(jwt({ claims: claim("roles", ["Orders.Read", "Orders.Write"], ' match="all"') })),
    expect: { blocked: "api", says: "all of" },
  },
  {
    name: "match all with both roles assigned",
    api: policies(jwt({ claims: claim("roles", ["Orders.Read", "Orders.Write"], ' match="all"') })),
    token: { roles: ["Orders.Write", "Orders.Read"] },
    expect: "allowed",
  },
  {
    name: "match defaults to all",
    api: policies(jwt({ claims: claim("roles", ["Orders.Read", "Orders.Write"]) })),
    expect: { blocked: "api", says: "match all" },
  },
  {
    name: "no role assigned in Graph: roles claim absent",
    api: policies(jwt({ claims: claim("roles", ["Orders.Read"], ' match="any"') })),
    token: { roles: [] },
    expect: { blocked: "api", says: "no such claim" },
  },
  {
    name: "separator splits a multi-valued claim",
    api: policies(jwt({ claims: claim("ver", ["1", "0"], ' match="all" separator="."') })),
    expect: "allowed",
  },
  {
    name: "without the separator the whole value must match",
    api: policies(jwt({ claims: claim("ver", ["1"], ' match="all"') })),
    expect: { blocked: "api", says: '"1.0"' },
  },
  {
    name: "separator over an array claim splits each element",
    api: policies(jwt({ claims: claim("roles", ["Read"], ' match="any" separator="."') })),
    expect: "allowed",
  },
  {
    name: "every <claim> must hold: oid pinned to another principal",
    api: policies(
      jwt({
        claims: claim("roles", ["Orders.Read"], ' match="any"') + claim("oid", [OTHER_TID], ' match="any"'),
      }),
    ),
    expect: { blocked: "api", says: "oid" },
  },
  {
    name: "a claim the token has but is not computed: not evaluated",
    api: policies(jwt({ claims: claim("appidacr", ["2"]) })),
    expect: "unknown",
    notes: "appidacr",
  },
  {
    name: "v1 token has appid, not azp",
    api: policies(jwt({ claims: claim("azp", [CLIENT]) })),
    expect: { blocked: "api", says: "azp" },
  },
  // --- where the token is read from
  {
    name: "custom header: the Logic App sends Authorization",
    api: policies(jwt({ attrs: 'header-name="X-Token"' })),
    expect: { blocked: "api", says: "X-Token" },
  },
  {
    name: "query parameter",
    api: policies(jwt({ attrs: 'query-parameter-name="access_token"' })),
    expect: { blocked: "api", says: "query parameter" },
  },
  {
    name: "another scheme",
    api: policies(jwt({ attrs: 'header-name="Authorization" require-scheme="Token"' })),
    expect: { blocked: "api", says: "scheme" },
  },
  {
    name: "token-value expression: not evaluated",
    api: policies(
      jwt({ attrs: 'token-value="@(context.Request.Headers.GetValueOrDefault(&quot;X&quot;))"' }),
    ),
    expect: "unknown",
  },
  {
    name: "named-value audience: not evaluated",
    api: policies(jwt({ audiences: ["{{payments-audience}}"] })),
    expect: "unknown",
    notes: "named value",
  },
  // --- validate-azure-ad-token
  {
    name: "validate-azure-ad-token: tenant, client and audience match",
    api: policies(aad(auds(URI) + clientIds(CLIENT))),
    expect: "allowed",
  },
  {
    name: "validate-azure-ad-token: another tenant",
    api: policies(aad(auds(URI) + clientIds(CLIENT), OTHER_TID)),
    expect: { blocked: "api", element: "validate-azure-ad-token", says: "tenant" },
  },
  {
    name: "validate-azure-ad-token: client id not listed",
    api: policies(aad(auds(URI) + clientIds(OTHER_TID))),
    expect: { blocked: "api", says: "client-application-ids" },
  },
  {
    name: "validate-azure-ad-token: v2 token, client id listed, aud is the appId",
    api: policies(aad(auds(API_APP) + clientIds(CLIENT))),
    token: { version: 2 },
    expect: "allowed",
  },
  {
    name: "validate-azure-ad-token: identity's client id unknown",
    api: policies(aad(auds(URI) + clientIds(CLIENT))),
    token: { clientId: undefined },
    expect: "unknown",
    notes: "client id",
  },
  // --- other elements
  {
    name: "check-header on Authorization with fixed values",
    api: policies(
      `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false"><value>Bearer abc</value></check-header>`,
    ),
    expect: { blocked: "api", element: 'check-header name="Authorization"' },
  },
  {
    name: "check-header on Authorization, presence only",
    api: policies(
      `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="true" />`,
    ),
    expect: "allowed",
  },
  {
    name: "check-header on another header: not evaluated",
    api: policies(
      `<check-header name="X-Api-Key" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="true" />${jwt()}`,
    ),
    expect: "unknown",
    notes: "X-Api-Key",
  },
  {
    name: "choose is not evaluated when a branch may answer, so a later block is not certain",
    api: policies(
      `<choose><when condition="@(context.Request.Method == &quot;GET&quot;)"><return-response /></when></choose>${BAD_AUD}`,
    ),
    expect: "unknown",
    notes: "choose",
  },
  {
    name: "choose with only header edits is harmless",
    api: policies(
      `<choose><when condition="@(true)"><set-header name="x" exists-action="override"><value>1</value></set-header></when><otherwise /></choose>${jwt()}`,
    ),
    expect: "allowed",
  },
  {
    name: "ip-filter before a refusing rule: still blocked",
    api: policies(`<ip-filter action="allow"><address>10.0.0.1</address></ip-filter>${BAD_AUD}`),
    expect: { blocked: "api", element: "validate-jwt" },
  },
  {
    name: "rate limits and cors are not access decisions",
    global: policies(
      `<cors><allowed-origins><origin>*</origin></allowed-origins></cors><rate-limit calls="10" renewal-period="60" />`,
    ),
    api: policies(`<base />${jwt()}`),
    expect: "allowed",
  },
  {
    name: "unknown element: not evaluated",
    api: policies(`<send-request mode="new" response-variable-name="r" />${jwt()}`),
    expect: "unknown",
    notes: "send-request",
  },
  // --- fragments
  {
    name: "the rule inside an included fragment is evaluated, and named",
    api: policies(`<base /><include-fragment fragment-id="Auth" />`),
    fragments: { auth: `<fragment>${BAD_AUD}</fragment>` },
    expect: { blocked: "api", fragment: "Auth" },
  },
  {
    name: "a fragment that was not read: not evaluated",
    api: policies(`<include-fragment fragment-id="missing" />${jwt()}`),
    expect: "unknown",
    notes: "missing",
  },
  {
    name: "a document that is not well-formed: not evaluated",
    api: `<policies><inbound><base /></policies>`,
    expect: "unknown",
  },
];

function chainOf(c: Case): ChainDocuments {
  return {
    ...(c.global !== undefined ? { global: c.global } : {}),
    ...(c.product ? { product: c.product } : {}),
    api: { id: "payments", ...(c.api !== undefined ? { xml: c.api } : {}) },
    operation: { id: "create-order", ...(c.operation !== undefined ? { xml: c.operation } : {}) },
    fragments: c.fragments ?? {},
  };
}

function tokenOf(c: Case) {
  const input: TokenInput = { ...tokenInput, ...c.token };
  if (c.token && "clientId" in c.token && c.token.clientId === undefined) delete input.clientId;
  return computeToken(input);
}

describe("evaluateChain: the verdict the APIM documentation gives", () => {
  it("has at least 30 chains", () => expect(CASES.length).toBeGreaterThanOrEqual(30));

  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const v: Verdict = evaluateChain(chainOf(c), tokenOf(c));
    if (c.expect === "allowed") {
      expect(v).toEqual({ verdict: "allowed" });
      return;
    }
    if (c.expect === "unknown") {
      expect(v.verdict).toBe("unknown");
      const notes = v.verdict === "unknown" ? v.notEvaluated.map(describeFinding).join(" | ") : "";
      expect(notes.length).toBeGreaterThan(0);
      if (c.notes) expect(notes).toContain(c.notes);
      return;
    }
    expect(v.verdict, JSON.stringify(v)).toBe("blocked");
    if (v.verdict !== "blocked") return;
    expect(v.by.scope.kind).toBe(c.expect.blocked);
    if (c.expect.element) expect(v.by.element).toBe(c.expect.element);
    if (c.expect.fragment) expect(v.by.fragment).toBe(c.expect.fragment);
    if (c.expect.says) expect(describeFinding(v.by)).toContain(c.expect.says);
  });
});

describe("computeToken", () => {
  it("v1: aud is the requested resource, iss sts.windows.net, appid", () => {
    expect(computeToken(tokenInput).claims).toMatchObject({
      aud: URI,
      iss: V1_ISS,
      appid: CLIENT,
      oid: PID,
      tid: TID,
      idtyp: "app",
      roles: ["Orders.Read"],
    });
  });
  it("v2: aud is the API's client id, iss ends in /v2.0, azp", () => {
    const t = computeToken({ ...tokenInput, version: 2 });
    expect(t.claims).toMatchObject({ aud: API_APP, iss: V2_ISS, azp: CLIENT });
    expect(t.claims.appid).toBeUndefined();
  });
});

describe("bounds", () => {
  it("stays bounded with <base/> repeated at every scope: the element and step budget answers", () => {
    const many = Array.from({ length: 500 }, () => "<base />").join("");
    const chain: ChainDocuments = {
      global: policies(Array.from({ length: 500 }, () => "<set-variable name='x' value='1' />").join("")),
      product: { id: "p", xml: policies(many) },
      api: { id: "a", xml: policies(many) },
      operation: { id: "o", xml: policies(many) },
      fragments: {},
    };
    // Bounded by construction (MAX_ITEMS elements, MAX_STEPS visits), asserted by the answer, not by a stopwatch.
    const v = evaluateChain(chain, computeToken(tokenInput));
    expect(v.verdict).toBe("unknown");
    expect(v.verdict === "unknown" && v.notEvaluated.map((f) => f.reason)).toContainEqual(
      expect.stringContaining("too large to evaluate"),
    );
  });
  it("stays bounded when <base/> repeats over scopes that add nothing: the budget answers", () => {
    const many = policies(Array.from({ length: 2000 }, () => "<base />").join(""));
    const v = evaluateChain(
      {
        global: policies(""),
        product: { id: "p", xml: many },
        api: { id: "a", xml: many },
        operation: { id: "o", xml: many },
        fragments: {},
      },
      computeToken(tokenInput),
    );
    expect(v.verdict).toBe("unknown");
    expect(v.verdict === "unknown" && v.notEvaluated.map((f) => f.reason)).toContainEqual(
      expect.stringContaining("too large to evaluate"),
    );
  });
  it("a fragment that includes itself ends", () => {
    const v = evaluateChain(
      {
        api: { id: "a", xml: policies(`<include-fragment fragment-id="loop" />`) },
        operation: { id: "o" },
        fragments: { loop: `<fragment><include-fragment fragment-id="loop" /></fragment>` },
      },
      computeToken(tokenInput),
    );
    expect(v.verdict).toBe("unknown");
  });
});
