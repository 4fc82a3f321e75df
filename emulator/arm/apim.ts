import { apimEtag, azureTime, key, newGuid } from "../ids.ts";
import {
  armError,
  page,
  requireObject,
  resourceNotFound,
  type Ctx,
  type Reply,
  type Route,
} from "../http.ts";
import type { Runtime } from "../runtime.ts";
import type { ApimServiceRecord, FragmentRecord, JsonObject, PolicyRecord } from "../state.ts";
import {
  XmlError,
  includedFragments,
  parseXml,
  rootElement,
  serializeXml,
  type XmlNode,
} from "./apim-xml.ts";
import { SEG, asObject, requireResourceGroup } from "./common.ts";

const VERSIONS = ["2024-05-01", "2024-06-01-preview", "2023-09-01-preview", "2022-08-01", "2021-08-01"];
const SVC_TYPE = "Microsoft.ApiManagement/service";
const BASE = `^/subscriptions/${SEG}/resourceGroups/${SEG}/providers/Microsoft\\.ApiManagement/service/${SEG}`;

export const apimServiceId = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/${SVC_TYPE}/${name}`;

/** Entity tags are quoted on the wire; `If-Match` is compared without quotes or a weak prefix. */
export const newEtag = (rt: Runtime): string => `"${apimEtag(rt.nextEtag())}"`;
const bareTag = (t: string): string => t.trim().replace(/^W\//, "").replace(/^"|"$/g, "");

/** Non-current API revisions are addressed as `apiId;rev=n`; the emulator keeps one revision. */
const apiKey = (apiId: string): string => apiId.split(";")[0]!.toLowerCase();

const notFound = (what: string): never => {
  throw armError(404, "ResourceNotFound", `${what} not found.`, { details: null });
};

function validation(message: string): never {
  throw armError(400, "ValidationError", "One or more fields contain incorrect values:", {
    details: [{ code: "ValidationError", target: "representation", message }],
  });
}

function service(ctx: Ctx, sub: string, rg: string, name: string): ApimServiceRecord {
  requireResourceGroup(ctx, sub, rg);
  const svc = ctx.rt.state.apimServices[key(apimServiceId(sub, rg, name))];
  if (!svc) throw resourceNotFound(SVC_TYPE, name, rg);
  return svc;
}

type ScopeKind = "service" | "product" | "api" | "operation";

interface PolicyScope {
  /** Key in `service.policies`. */
  key: string;
  /** ARM id of the scope entity (the service itself for global policies). */
  entityId: string;
  type: string;
}

function resolveScope(svc: ApimServiceRecord, kind: ScopeKind, ids: string[]): PolicyScope {
  switch (kind) {
    case "service":
      return { key: "", entityId: svc.id, type: `${SVC_TYPE}/policies` };
    case "product": {
      const p = svc.products[ids[0]!.toLowerCase()] ?? notFound("Product");
      return {
        key: `products/${p.name.toLowerCase()}`,
        entityId: `${svc.id}/products/${p.name}`,
        type: `${SVC_TYPE}/products/policies`,
      };
    }
    case "api": {
      const a = svc.apis[apiKey(ids[0]!)] ?? notFound("Api");
      return {
        key: `apis/${a.name.toLowerCase()}`,
        entityId: `${svc.id}/apis/${a.name}`,
        type: `${SVC_TYPE}/apis/policies`,
      };
    }
    case "operation": {
      const a = svc.apis[apiKey(ids[0]!)] ?? notFound("Api");
      const o = a.operations[ids[1]!.toLowerCase()] ?? notFound("Operation");
      return {
        key: `apis/${a.name.toLowerCase()}/operations/${o.name.toLowerCase()}`,
        entityId: `${svc.id}/apis/${a.name}/operations/${o.name}`,
        type: `${SVC_TYPE}/apis/operations/policies`,
      };
    }
  }
}

/** Parses a policy or fragment as the service would for the given input format. */
function parseDocument(value: string, format: string, rootName: "policies" | "fragment"): XmlNode[] {
  if (format !== "xml" && format !== "rawxml") {
    validation(`Format '${format}' is not supported by the emulator (linked documents are not fetched).`);
  }
  let nodes: XmlNode[];
  try {
    nodes = parseXml(value, format === "xml");
  } catch (e) {
    return validation(e instanceof XmlError ? e.message : String(e));
  }
  if (rootElement(nodes)?.name !== rootName) validation(`The root element must be '<${rootName}>'.`);
  return nodes;
}

/** What the service keeps: `rawxml` verbatim; `xml` with its entities decoded, layout kept. */
function storedRaw(value: string, format: string, nodes: XmlNode[]): string {
  return format === "rawxml" ? value : serializeXml(nodes, { indent: false, escape: false });
}

/** `format=xml` output: re-serialised and entity-escaped; `rawxml`: the stored document. */
export function renderPolicyValue(raw: string, format: "xml" | "rawxml"): string {
  return format === "rawxml" ? raw : serializeXml(parseXml(raw, false), { indent: true, escape: true });
}

function readFormat(ctx: Ctx): "xml" | "rawxml" {
  const f = (ctx.query.get("format") ?? "xml").toLowerCase();
  if (f !== "xml" && f !== "rawxml") validation(`Format '${f}' is not a valid policy export format.`);
  return f as "xml" | "rawxml";
}

function renderPolicy(scope: PolicyScope, p: PolicyRecord, format: "xml" | "rawxml"): JsonObject {
  const properties: JsonObject = { value: renderPolicyValue(p.raw, format) };
  if (format === "rawxml") properties.format = "rawxml";
  return { id: `${scope.entityId}/policies/policy`, type: scope.type, name: "policy", properties };
}

/**
 * Sizes the service stores at most (Learn: gateway runtime limits, "Policy document size 256 KiB"; policy fragments,
 * maximum 512 KB). Enforced on the ARM PUTs only: the control API may still seed a larger document, which is how
 * tests show what the operator does with one. The error code and message are not documented (ours, unverified).
 */
const MAX_POLICY_CHARS = 256 * 1024;
const MAX_FRAGMENT_CHARS = 512 * 1024;

function checkSize(value: string, max: number, what: string): void {
  if (value.length > max) {
    validation(`The ${what} is ${value.length} characters long; the maximum is ${max / 1024} KiB.`);
  }
}

/** Checks `If-Match` against the current entity (absent entity: only `*` or no header passes). */
function checkIfMatch(ctx: Ctx, current: { etag: string } | undefined, required: boolean): void {
  const ifMatch = ctx.headers["if-match"];
  if (ifMatch === undefined) {
    if (required) validation("The If-Match header is required.");
    return;
  }
  if (ifMatch.trim() === "*") return;
  if (!current || !ifMatch.split(",").some((t) => bareTag(t) === bareTag(current.etag))) {
    throw armError(
      412,
      "PreconditionFailed",
      "The entity tag in the If-Match header does not match the current entity; it was changed since it was read.",
    );
  }
}

/** Puts a policy document at a scope; also the control API's behind-the-back edit. */
export function putPolicy(
  rt: Runtime,
  svc: ApimServiceRecord,
  scopeKey: string,
  value: string,
  format: string,
): { record: PolicyRecord; created: boolean } {
  const nodes = parseDocument(value, format, "policies");
  const created = !svc.policies[scopeKey];
  const record = { raw: storedRaw(value, format, nodes), etag: newEtag(rt) };
  svc.policies[scopeKey] = record;
  return { record, created };
}

function policyRoutes(kind: ScopeKind, prefix: string, groupName: string, listName: string): Route[] {
  const ids = (p: string[]) => p.slice(3, 3 + { service: 0, product: 1, api: 1, operation: 2 }[kind]);
  const policyIdOk = (p: string[]) => {
    const id = p[p.length - 1]!;
    if (id.toLowerCase() !== "policy")
      validation(`Policy identifier '${id}' is not valid; it must be 'policy'.`);
  };
  const ctxOf = (ctx: Ctx, p: string[]) => {
    const svc = service(ctx, p[0]!, p[1]!, p[2]!);
    return { svc, scope: resolveScope(svc, kind, ids(p)) };
  };
  const common = { api: "arm" as const, resourceType: "service/policies", apiVersions: VERSIONS };
  const one = new RegExp(`${BASE}${prefix}/policies/${SEG}$`, "i");
  const current = (ctx: Ctx, p: string[]) => {
    policyIdOk(p);
    const { svc, scope } = ctxOf(ctx, p);
    return { svc, scope, policy: svc.policies[scope.key] };
  };
  return [
    {
      ...common,
      method: "HEAD",
      pattern: one,
      operation: `${groupName}_GetEntityTag`,
      kind: "read",
      handle: (ctx, p) => {
        const { policy } = current(ctx, p);
        if (!policy) return { status: 404 };
        return { status: 200, headers: { ETag: policy.etag } };
      },
    },
    {
      ...common,
      method: "GET",
      pattern: one,
      operation: `${groupName}_Get`,
      kind: "read",
      handle: (ctx, p) => {
        const { scope, policy } = current(ctx, p);
        if (!policy) return notFound("Policy");
        return {
          status: 200,
          body: renderPolicy(scope, policy, readFormat(ctx)),
          headers: { ETag: policy.etag },
        };
      },
    },
    {
      ...common,
      method: "PUT",
      pattern: one,
      operation: `${groupName}_CreateOrUpdate`,
      kind: "write",
      handle: (ctx, p) => {
        const { svc, scope, policy } = current(ctx, p);
        const props = asObject(requireObject(ctx.body, "arm").properties);
        if (typeof props.value !== "string") validation("Policy content ('properties.value') is required.");
        checkSize(props.value as string, MAX_POLICY_CHARS, "policy document");
        // Same rule as fragments (below): the APIM team, Azure/azure-rest-api-specs#573, on APIM entity PUTs: "We
        // dont have support for conditional Create, if the Entity exists and the customer has not provided the
        // If-Match header we throw 400 Bad Request error". The swagger's own words for the policy PUTs' If-Match:
        // "Not required when creating an entity, but required when updating an entity." So without If-Match a
        // policy PUT only creates.
        if (policy && ctx.headers["if-match"] === undefined) {
          throw armError(
            400,
            "EntityAlreadyExists",
            "Entity with the given ID already exists. Specify ETag, or '*' for unconditional update.",
          );
        }
        checkIfMatch(ctx, policy, false);
        const { record, created } = putPolicy(
          ctx.rt,
          svc,
          scope.key,
          props.value as string,
          String(props.format ?? "xml"),
        );
        return {
          status: created ? 201 : 200,
          body: renderPolicy(scope, record, "xml"),
          headers: { ETag: record.etag },
        };
      },
    },
    {
      ...common,
      method: "DELETE",
      pattern: one,
      operation: `${groupName}_Delete`,
      kind: "delete",
      handle: (ctx, p) => {
        const { svc, scope, policy } = current(ctx, p);
        checkIfMatch(ctx, policy, true);
        if (!policy) return { status: 204 };
        delete svc.policies[scope.key];
        return { status: 200 };
      },
    },
    {
      ...common,
      method: "GET",
      pattern: new RegExp(`${BASE}${prefix}/policies$`, "i"),
      operation: `${groupName}_${listName}`,
      kind: "read",
      handle: (ctx, p) => {
        const { svc, scope } = ctxOf(ctx, [...p, "policy"]);
        const policy = svc.policies[scope.key];
        const format = readFormat(ctx);
        const value = policy ? [renderPolicy(scope, policy, format)] : [];
        return { status: 200, body: { value, count: value.length, nextLink: "" } };
      },
    },
  ];
}

function fragmentOf(svc: ApimServiceRecord, id: string): FragmentRecord | undefined {
  return svc.fragments[id.toLowerCase()];
}

/** Policies of the service that include the fragment, as `listReferences` reports them. */
function referencesTo(svc: ApimServiceRecord, fragmentId: string): JsonObject[] {
  return Object.entries(svc.policies)
    .filter(([, p]) => includedFragments(p.raw).includes(fragmentId.toLowerCase()))
    .map(([scopeKey]) => ({
      id: `${svc.id}${scopeKey ? `/${scopeKey}` : ""}/policies/policy`,
      name: "policy",
      type: [SVC_TYPE, ...scopeKey.split("/").filter((_, i) => i % 2 === 0 && scopeKey), "policies"].join(
        "/",
      ),
    }));
}

function renderFragment(svc: ApimServiceRecord, f: FragmentRecord, format: "xml" | "rawxml"): JsonObject {
  const value =
    format === "rawxml" ? f.raw : serializeXml(parseXml(f.raw, false), { indent: false, escape: true });
  return {
    id: `${svc.id}/policyFragments/${f.name}`,
    type: `${SVC_TYPE}/policyFragments`,
    name: f.name,
    properties: { format, description: f.description, value },
  };
}

/** Puts a fragment (the `<fragment>` wrapper is added when missing); also used for seeding. */
export function putFragment(
  rt: Runtime,
  svc: ApimServiceRecord,
  id: string,
  value: string,
  format: string,
  description: string,
): { record: FragmentRecord; created: boolean; nodes: XmlNode[] } {
  const wrapped = /^\s*<fragment[\s>]/i.test(value) ? value : `<fragment>${value}</fragment>`;
  const nodes = parseDocument(wrapped, format, "fragment");
  const inner = rootElement(nodes)!;
  const forbidden = ["inbound", "outbound", "backend", "on-error", "base", "include-fragment"];
  const walk = (n: XmlNode): void => {
    if (n.kind !== "element") return;
    if (forbidden.includes(n.name)) validation(`A policy fragment can't contain '<${n.name}>'.`);
    n.children.forEach(walk);
  };
  inner.children.forEach(walk);
  const existing = fragmentOf(svc, id);
  const record: FragmentRecord = {
    name: existing?.name ?? id,
    description,
    raw: storedRaw(wrapped, format, nodes),
    etag: newEtag(rt),
  };
  svc.fragments[id.toLowerCase()] = record;
  return { record, created: !existing, nodes };
}

const fragmentCommon = {
  api: "arm" as const,
  resourceType: "service/policyFragments",
  apiVersions: VERSIONS,
};
const FRAGMENT = new RegExp(`${BASE}/policyFragments/${SEG}$`, "i");

const fragmentRoutes: Route[] = [
  {
    ...fragmentCommon,
    method: "PUT",
    pattern: FRAGMENT,
    operation: "PolicyFragment_CreateOrUpdate",
    kind: "write",
    // A long-running operation on the service: 200/201 with provisioningState InProgress, Location and
    // Azure-AsyncOperation; the body's value is the fragment's content without the <fragment> wrapper.
    handle: (ctx, [sub, rg, name, id]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const props = asObject(requireObject(ctx.body, "arm").properties);
      if (typeof props.value !== "string") validation("Fragment content ('properties.value') is required.");
      checkSize(props.value as string, MAX_FRAGMENT_CHARS, "policy fragment");
      const existing = fragmentOf(svc, id!);
      // Swagger: If-Match is "Not required when creating an entity, but required when updating an entity". What
      // the service does without it, in the APIM team's words (Azure/azure-rest-api-specs#573, 2016): "We dont
      // have support for conditional Create, if the Entity exists and the customer has not provided the If-Match
      // header we throw 400 Bad Request error with message …". So a PUT without If-Match is create-only; the
      // error code is not given there (ours is unverified). A tag on a fragment that does not exist → 412, `*`
      // creates (docs/emulator.md).
      if (existing && ctx.headers["if-match"] === undefined) {
        throw armError(
          400,
          "EntityAlreadyExists",
          "Entity with the given ID already exists. Specify ETag, or '*' for unconditional update.",
        );
      }
      checkIfMatch(ctx, existing, false);
      const format = String(props.format ?? "xml");
      const { record, created, nodes } = putFragment(
        ctx.rt,
        svc,
        id!,
        props.value as string,
        format,
        String(props.description ?? ""),
      );
      const status = created ? 201 : 200;
      const opId = newGuid().replace(/-/g, "").slice(0, 24);
      const svcUrl = `${ctx.baseUrl}${svc.id}`;
      const inner = rootElement(nodes)!.children;
      return {
        status,
        headers: {
          ETag: record.etag,
          location: `${svcUrl}/policyFragments/${record.name}?api-version=2024-05-01&asyncId=${opId}&asyncCode=${status}`,
          "Azure-AsyncOperation": `${svcUrl}/tenant/operationResults/${opId}?api-version=2024-05-01`,
        },
        body: {
          id: `${svc.id}/policyFragments/${record.name}`,
          type: `${SVC_TYPE}/policyFragments`,
          name: record.name,
          properties: {
            format,
            description: record.description,
            value: serializeXml(inner, { indent: false, escape: format === "xml" }),
            provisioningState: "InProgress",
          },
        },
      };
    },
  },
  {
    ...fragmentCommon,
    method: "GET",
    pattern: FRAGMENT,
    operation: "PolicyFragment_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name, id]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const f = fragmentOf(svc, id!) ?? notFound("PolicyFragment");
      return { status: 200, body: renderFragment(svc, f, readFormat(ctx)), headers: { ETag: f.etag } };
    },
  },
  {
    ...fragmentCommon,
    method: "HEAD",
    pattern: FRAGMENT,
    operation: "PolicyFragment_GetEntityTag",
    kind: "read",
    handle: (ctx, [sub, rg, name, id]) => {
      const f = fragmentOf(service(ctx, sub!, rg!, name!), id!);
      return f ? { status: 200, headers: { ETag: f.etag } } : { status: 404 };
    },
  },
  {
    ...fragmentCommon,
    method: "DELETE",
    pattern: FRAGMENT,
    operation: "PolicyFragment_Delete",
    kind: "delete",
    handle: (ctx, [sub, rg, name, id]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const f = fragmentOf(svc, id!);
      checkIfMatch(ctx, f, true);
      if (!f) return { status: 204 };
      const refs = referencesTo(svc, f.name);
      if (refs.length > 0) {
        throw armError(
          409,
          "Conflict",
          `Policy fragment '${f.name}' is referenced by ${refs.length} policies and cannot be deleted. Remove the references first: ${refs.map((r) => r.id).join(", ")}`,
        );
      }
      delete svc.fragments[f.name.toLowerCase()];
      return { status: 200 };
    },
  },
  {
    ...fragmentCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/policyFragments$`, "i"),
    operation: "PolicyFragment_ListByService",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const value = Object.values(svc.fragments).map((f) => renderFragment(svc, f, readFormat(ctx)));
      return { status: 200, body: { value, count: value.length, nextLink: "" } };
    },
  },
  {
    ...fragmentCommon,
    method: "POST",
    pattern: new RegExp(`${BASE}/policyFragments/${SEG}/listReferences$`, "i"),
    operation: "PolicyFragment_ListReferences",
    kind: "read",
    handle: (ctx, [sub, rg, name, id]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const f = fragmentOf(svc, id!) ?? notFound("PolicyFragment");
      const value = referencesTo(svc, f.name);
      return { status: 200, body: { value, count: value.length } };
    },
  },
  {
    ...fragmentCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/tenant/operationResults/${SEG}$`, "i"),
    operation: "OperationResults_Get",
    kind: "read",
    // Fragment writes complete at once, so every operation the emulator handed out has succeeded.
    handle: (ctx, [sub, rg, name, opId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const now = azureTime();
      return {
        status: 200,
        body: {
          id: `${svc.id}/tenant/operationResults/${opId}`,
          name: opId,
          status: "Succeeded",
          startTime: now,
          endTime: now,
        },
      };
    },
  },
];

function entity(body: JsonObject, etag: string): Reply {
  return { status: 200, body, headers: { ETag: etag } };
}

const entityCommon = { api: "arm" as const, resourceType: "service", apiVersions: VERSIONS };

const entityRoutes: Route[] = [
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}$`, "i"),
    operation: "ApiManagementService_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const host = `${svc.name.toLowerCase()}.azure-api.net`;
      return entity(
        {
          id: svc.id,
          name: svc.name,
          type: SVC_TYPE,
          location: svc.location,
          etag: svc.name,
          sku: { name: "Developer", capacity: 1 },
          properties: {
            provisioningState: "Succeeded",
            targetProvisioningState: "",
            // The gateway host a caller (a Logic App's HTTP action) must address; Learn, "Custom domain names in
            // API Management": the default Proxy host name is `{service}.azure-api.net` (example
            // ApiManagementServiceGetService.json lists it as the first, built-in, Proxy hostnameConfiguration).
            gatewayUrl: `https://${host}`,
            hostnameConfigurations: [
              {
                type: "Proxy",
                hostName: host,
                negotiateClientCertificate: false,
                defaultSslBinding: false,
                certificateSource: "BuiltIn",
              },
              // Custom domains follow the built-in one, as in ApiManagementServiceGetService.json (which shows a
              // custom Proxy host `gateway.current.int-azure-api.net` and DeveloperPortal/Management/... hosts).
              ...(svc.customHostnames ?? []).map((h) => ({
                type: h.type,
                hostName: h.hostName,
                negotiateClientCertificate: false,
                defaultSslBinding: false,
                certificateSource: "Custom",
              })),
            ],
            publisherEmail: "apim@contoso.com",
            publisherName: "Contoso",
            virtualNetworkType: "None",
            disableGateway: false,
            publicNetworkAccess: "Enabled",
            platformVersion: "stv2",
          },
        },
        `"${svc.name}"`,
      );
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/apis/${SEG}$`, "i"),
    operation: "Api_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name, apiId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const a = svc.apis[apiKey(apiId!)] ?? notFound("Api");
      return entity(renderApi(svc, a), a.etag);
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/apis$`, "i"),
    operation: "Api_ListByService",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const items = Object.values(svc.apis).map((a) => renderApi(svc, a));
      return { status: 200, body: { ...page(ctx, items, 100, "$skip"), count: items.length } };
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/apis/${SEG}/operations/${SEG}$`, "i"),
    operation: "ApiOperation_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name, apiId, opId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const a = svc.apis[apiKey(apiId!)] ?? notFound("Api");
      const o = a.operations[opId!.toLowerCase()] ?? notFound("Operation");
      return entity(
        {
          ...renderOperation(svc, a, o),
          properties: {
            ...renderOperation(svc, a, o).properties,
            templateParameters: [],
            description: "",
            responses: [],
            policies: null,
          },
        },
        a.etag,
      );
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/apis/${SEG}/operations$`, "i"),
    operation: "ApiOperation_ListByApi",
    kind: "read",
    // Example ApiManagementListApiOperations.json: the list carries displayName, method and urlTemplate only.
    handle: (ctx, [sub, rg, name, apiId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const a = svc.apis[apiKey(apiId!)] ?? notFound("Api");
      const items = Object.values(a.operations).map((o) => renderOperation(svc, a, o));
      return { status: 200, body: { ...page(ctx, items, 100, "$skip"), count: items.length, nextLink: "" } };
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/apis/${SEG}/products$`, "i"),
    operation: "ApiProduct_ListByApis",
    kind: "read",
    // Example ApiManagementListApiProducts.json: product ids at service level, the type names the API's view.
    handle: (ctx, [sub, rg, name, apiId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const a = svc.apis[apiKey(apiId!)] ?? notFound("Api");
      const items = Object.values(svc.products)
        .filter((p) => (p.apis ?? []).includes(a.name.toLowerCase()))
        .map((p) => ({ ...renderProduct(svc, p), type: `${SVC_TYPE}/apis/products` }));
      return { status: 200, body: { ...page(ctx, items, 100, "$skip"), count: items.length, nextLink: "" } };
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/products/${SEG}/apis$`, "i"),
    operation: "ProductApi_ListByProduct",
    kind: "read",
    // Example ApiManagementListProductApis.json: ids below the product, the API contract's properties.
    handle: (ctx, [sub, rg, name, productId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const p = svc.products[productId!.toLowerCase()] ?? notFound("Product");
      const items = (p.apis ?? [])
        .map((id) => svc.apis[id])
        .filter((a): a is ApimServiceRecord["apis"][string] => a !== undefined)
        .map((a) => ({
          ...renderApi(svc, a),
          id: `${svc.id}/products/${p.name}/apis/${a.name}`,
          type: `${SVC_TYPE}/products/apis`,
        }));
      return { status: 200, body: { ...page(ctx, items, 100, "$skip"), count: items.length, nextLink: "" } };
    },
  },
  {
    ...entityCommon,
    method: "GET",
    pattern: new RegExp(`${BASE}/products/${SEG}$`, "i"),
    operation: "Product_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name, productId]) => {
      const svc = service(ctx, sub!, rg!, name!);
      const p = svc.products[productId!.toLowerCase()] ?? notFound("Product");
      return entity(renderProduct(svc, p), p.etag);
    },
  },
];

type ApiRecord = ApimServiceRecord["apis"][string];

function renderOperation(
  svc: ApimServiceRecord,
  a: ApiRecord,
  o: ApiRecord["operations"][string],
): JsonObject & { properties: JsonObject } {
  return {
    id: `${svc.id}/apis/${a.name}/operations/${o.name}`,
    type: `${SVC_TYPE}/apis/operations`,
    name: o.name,
    properties: { displayName: o.displayName, method: o.method, urlTemplate: o.urlTemplate },
  };
}

function renderProduct(svc: ApimServiceRecord, p: ApimServiceRecord["products"][string]): JsonObject {
  return {
    id: `${svc.id}/products/${p.name}`,
    type: `${SVC_TYPE}/products`,
    name: p.name,
    properties: {
      displayName: p.displayName,
      description: p.description ?? "",
      subscriptionRequired: true,
      approvalRequired: p.approvalRequired ?? false,
      ...(p.subscriptionsLimit !== undefined ? { subscriptionsLimit: p.subscriptionsLimit } : {}),
      state: "published",
    },
  };
}

function renderApi(svc: ApimServiceRecord, a: ApiRecord): JsonObject {
  return {
    id: `${svc.id}/apis/${a.name}`,
    type: `${SVC_TYPE}/apis`,
    name: a.name,
    properties: {
      displayName: a.displayName,
      apiRevision: "1",
      description: "",
      subscriptionRequired: true,
      serviceUrl: a.serviceUrl,
      path: a.path,
      protocols: ["https"],
      authenticationSettings: {},
      subscriptionKeyParameterNames: { header: "Ocp-Apim-Subscription-Key", query: "subscription-key" },
      ...(a.type ? { type: a.type } : {}),
      isCurrent: true,
      isOnline: true,
    },
  };
}

export const apimRoutes: Route[] = [
  ...policyRoutes("service", "", "Policy", "ListByService"),
  ...policyRoutes("product", `/products/${SEG}`, "ProductPolicy", "ListByProduct"),
  ...policyRoutes("api", `/apis/${SEG}`, "ApiPolicy", "ListByApi"),
  ...policyRoutes("operation", `/apis/${SEG}/operations/${SEG}`, "ApiOperationPolicy", "ListByOperation"),
  ...fragmentRoutes,
  ...entityRoutes,
];
