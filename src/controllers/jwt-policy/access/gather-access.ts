/**
 * Reads, read-only, what the access check needs (decide-verdicts.ts decides from it): for every operation the
 * target covers (first MAX_ACCESS_VERDICTS), the inbound documents of its chain (global, each product the API is in,
 * API, operation) and the fragments they include; and, per API the binding holds roles on, the token inputs: the
 * API application's `api.requestedAccessTokenVersion` (from the ApiRegistration that declares the API when there is
 * one, else ApplicationPort by identifier URI or appId), its service
 * principal's appId and the app-role values Graph holds for the identity (not the ones the spec asks for).
 *
 * Cost per pass: 1 global + per API (1 policy + 1 products list + 1 operations list) + per product 1 + per operation
 * 1 + per included fragment 1, plus per API granted 3 Graph reads. Throttling and transient errors propagate (the pass
 * retries); a refused or missing read makes the verdict Unknown with the reason, never the pass fail.
 */
import { MAX_ACCESS_VERDICTS, type JwtPolicySpec } from "../../../api/v1alpha1/index.ts";
import { isAzureError } from "../../../azure/errors.ts";
import type {
  ApimChainPort,
  ApimPolicyTarget,
  ApimPort,
  ApplicationPort,
  CallOptions,
  GraphPort,
} from "../../../azure/ports.ts";
import type { BindingFacts } from "../decide.ts";
import { attributeValue, elements, parsePolicyXml } from "../xml.ts";
import type { ChainDocuments } from "./decide-access.ts";
import type { TokenInput } from "./decide-token.ts";
import type { AccessObservation, OperationChains } from "./decide-verdicts.ts";

export interface AccessPorts {
  apim: ApimPort;
  chain: ApimChainPort;
  graph: GraphPort;
  applications: ApplicationPort;
}

/** APIs a binding grants on that get a token each; more are not evaluated. */
const MAX_TOKENS = 5;
/** Fragments including fragments: how many levels are read. */
const FRAGMENT_LEVELS = 3;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class Unavailable extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Throttling, 5xx and cancellation belong to the pass (retry); anything else makes the check Unknown. */
function retryable(e: unknown): boolean {
  return (
    (isAzureError(e) && (e.kind === "Throttled" || e.kind === "Transient")) ||
    (e instanceof Error && e.name === "AbortError")
  );
}

/** What the rule's own gather already read this round, so the check does not read it twice. */
export interface AlreadyRead {
  target: ApimPolicyTarget;
  /** The target's document; undefined: it has none. */
  xml: string | undefined;
  /** Fragments by id (our own), as read. */
  fragments: Record<string, string>;
}

const scopeKey = (t: ApimPolicyTarget): string =>
  [t.productId ?? "", t.apiId ?? "", t.operationId ?? ""].map((x) => x.toLowerCase()).join("|");

function policyReader(apim: ApimPort, known: AlreadyRead | undefined, call: CallOptions) {
  const cache = new Map<string, string | undefined>();
  if (known) cache.set(scopeKey(known.target), known.xml);
  return async (t: ApimPolicyTarget): Promise<string | undefined> => {
    const k = scopeKey(t);
    if (cache.has(k)) return cache.get(k);
    let xml: string | undefined;
    try {
      xml = (await apim.getPolicy(t, call))?.xml;
    } catch (e) {
      if (!isAzureError(e, "NotFound")) throw e;
    }
    cache.set(k, xml);
    return xml;
  };
}

/** Some responses omit the <fragment> wrapper (decide.ts fragmentMatches). */
const wrapFragment = (xml: string): string =>
  xml.trimStart().startsWith("<fragment") ? xml : `<fragment>${xml}</fragment>`;

function includedFragments(xml: string): string[] {
  const r = parsePolicyXml(xml, null);
  if (!r.ok) return [];
  return elements(r.doc)
    .filter((e) => e.name === "include-fragment")
    .map((e) => attributeValue(e, "fragment-id")?.trim() ?? "")
    .filter((id) => id !== "" && !id.startsWith("@") && !id.includes("{{"));
}

async function tokenInputs(
  binding: BindingFacts & { principalId: string; tenantId: string },
  ports: AccessPorts,
  call: CallOptions,
): Promise<TokenInput[]> {
  const out: TokenInput[] = [];
  const skipped: string[] = [];
  for (const api of (binding.audiences ?? []).slice(0, MAX_TOKENS)) {
    const sp = await ports.graph.findServicePrincipal(api, call);
    if (!sp) {
      skipped.push(`no service principal answers to "${api}"`);
      continue;
    }
    // An API an ApiRegistration declares: its status says the token version (observed by the operator), so Graph
    // is not asked again, and an operator without Application.Read.All still gets a verdict for it.
    const registered = binding.registered?.find(
      (r) => r.appId.toLowerCase() === api.toLowerCase() || r.identifierUris.includes(api),
    );
    let version: 1 | 2;
    if (registered) version = registered.tokenVersion;
    else {
      let app;
      try {
        app = GUID.test(api)
          ? await ports.applications.observeByAppId(api, call)
          : await ports.applications.observeByIdentifierUri(api, call);
      } catch (e) {
        if (retryable(e)) throw e;
        app = undefined;
      }
      if (!app) {
        skipped.push(`the application of "${api}" could not be read, so its token version is not known`);
        continue;
      }
      // apiapplication: "If the value is null, this defaults to 1".
      version = app.requestedAccessTokenVersion === 2 ? 2 : 1;
    }
    const assigned = (await ports.graph.listAppRoleAssignedTo(sp.id, call)).filter(
      (a) => a.principalId.toLowerCase() === binding.principalId.toLowerCase(),
    );
    const roles = assigned
      .map((a) => sp.appRoles.find((r) => r.id.toLowerCase() === a.appRoleId.toLowerCase())?.value ?? "")
      .filter((v) => v !== "");
    out.push({
      version,
      tenantId: binding.tenantId,
      principalId: binding.principalId,
      ...(binding.clientId ? { clientId: binding.clientId } : {}),
      apiAppId: sp.appId,
      requestedResource: api,
      roles,
    });
  }
  if (out.length === 0)
    throw new Unavailable(
      "TokenNotComputed",
      skipped.length > 0
        ? skipped.join("; ")
        : "the binding grants no app role, so no API token is asked for",
    );
  return out;
}

async function operationsOf(
  spec: JwtPolicySpec,
  ports: AccessPorts,
  call: CallOptions,
): Promise<{ apiId: string; operationId: string }[]> {
  const svc = spec.apimServiceId;
  const t = spec.target;
  if (t?.apiId !== undefined && t.operationId !== undefined)
    return [{ apiId: t.apiId, operationId: t.operationId }];
  const apis =
    t?.apiId !== undefined
      ? [t.apiId]
      : t?.productId !== undefined
        ? await ports.chain.listProductApis(svc, t.productId, call)
        : undefined;
  if (!apis)
    throw new Unavailable(
      "TargetNotEvaluated",
      "the rule covers the whole service; which API the Logic App calls is not known (target an API or product)",
    );
  const ops: { apiId: string; operationId: string }[] = [];
  for (const apiId of apis) {
    for (const operationId of await ports.chain.listOperations(svc, apiId, call))
      ops.push({ apiId, operationId });
  }
  return ops;
}

export async function gatherAccess(
  spec: JwtPolicySpec,
  binding: BindingFacts | undefined,
  ports: AccessPorts,
  call: CallOptions = {},
  known?: AlreadyRead,
): Promise<AccessObservation> {
  const policyXml = policyReader(ports.apim, known, call);
  try {
    if (!binding)
      throw new Unavailable("NoBinding", "no bindingRef: whose token would call the API is not known");
    if (!binding.principalId || !binding.tenantId)
      throw new Unavailable("IdentityNotKnown", `binding ${binding.name} reports no principal or tenant yet`);
    const tokens = await tokenInputs(
      { ...binding, principalId: binding.principalId, tenantId: binding.tenantId },
      ports,
      call,
    );
    const svc = spec.apimServiceId;
    const all = await operationsOf(spec, ports, call);
    const ops = all.slice(0, MAX_ACCESS_VERDICTS);
    const global = await policyXml({ serviceId: svc });
    const apiDocs = new Map<string, { xml?: string; products: { id: string; xml?: string }[] }>();
    const productDocs = new Map<string, string | undefined>();
    for (const { apiId } of ops) {
      if (apiDocs.has(apiId)) continue;
      const xml = await policyXml({ serviceId: svc, apiId });
      const products = [];
      for (const productId of await ports.chain.listApiProducts(svc, apiId, call)) {
        if (!productDocs.has(productId))
          productDocs.set(productId, await policyXml({ serviceId: svc, productId }));
        const p = productDocs.get(productId);
        products.push({ id: productId, ...(p !== undefined ? { xml: p } : {}) });
      }
      apiDocs.set(apiId, { ...(xml !== undefined ? { xml } : {}), products });
    }
    const opDocs = await Promise.all(
      ops.map((o) => policyXml({ serviceId: svc, apiId: o.apiId, operationId: o.operationId })),
    );
    // Fragments, level by level: a fragment may include another.
    const fragments: Record<string, string> = Object.fromEntries(
      Object.entries(known?.fragments ?? {}).map(([id, xml]) => [id.toLowerCase(), wrapFragment(xml)]),
    );
    let pending = [
      global,
      ...productDocs.values(),
      ...[...apiDocs.values()].map((a) => a.xml),
      ...opDocs,
    ].flatMap((x) => (x ? includedFragments(x) : []));
    for (let level = 0; level < FRAGMENT_LEVELS && pending.length > 0; level++) {
      const next: string[] = [];
      for (const id of new Set(pending)) {
        if (id.toLowerCase() in fragments) continue;
        let f;
        try {
          f = await ports.apim.getFragment(svc, id, call);
        } catch (e) {
          if (!isAzureError(e, "NotFound")) throw e;
        }
        if (!f) continue;
        const xml = wrapFragment(f.xml);
        fragments[id.toLowerCase()] = xml;
        next.push(...includedFragments(xml));
      }
      pending = next;
    }
    const evaluated: OperationChains[] = ops.map((o, i) => {
      const api = apiDocs.get(o.apiId)!;
      const base = {
        ...(global !== undefined ? { global } : {}),
        api: { id: o.apiId, ...(api.xml !== undefined ? { xml: api.xml } : {}) },
        operation: { id: o.operationId, ...(opDocs[i] !== undefined ? { xml: opDocs[i] } : {}) },
        fragments,
      };
      const chains: ChainDocuments[] =
        api.products.length > 0 ? api.products.map((product) => ({ ...base, product })) : [base];
      return { operation: `${o.apiId}/${o.operationId}`, chains };
    });
    return { kind: "observed", operations: all.length, evaluated, tokens };
  } catch (e) {
    if (e instanceof Unavailable) return { kind: "unavailable", reason: e.reason, message: e.message };
    if (retryable(e)) throw e;
    return {
      kind: "unavailable",
      reason: "ReadFailed",
      message: `could not read the policy chain: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
