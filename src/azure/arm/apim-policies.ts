/**
 * ApimPort over @azure/arm-apimanagement 10 (api-version 2024-05-01). Documents are read and written as `rawxml`,
 * so policy expressions (`@(...)`, `@{...}`) travel byte-for-byte instead of being entity-escaped and re-serialised.
 */
import type { ApiManagementClient, PolicyContract } from "@azure/arm-apimanagement";
import type { FullOperationResponse } from "@azure/core-client";
import { AzureError, isAzureError } from "../errors.ts";
import type {
  ApimPolicyTarget,
  ApimPort,
  CallOptions,
  FragmentDocument,
  ListedFragment,
  PolicyDocument,
} from "../ports.ts";
import { absentOn404, invalidId, invoke, parseResourceId } from "./transport.ts";
import type { PerSubscription } from "./transport.ts";

const POLICY_ID = "policy";
const RAWXML = "rawxml";

interface ServiceRef {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

function parseServiceId(serviceId: string, operation: string): ServiceRef {
  const p = parseResourceId(serviceId);
  if (!p || p.type !== "microsoft.apimanagement/service" || p.children.length > 0) {
    throw invalidId("arm-apim", operation, serviceId, "an API Management service ID");
  }
  return { subscriptionId: p.subscriptionId, resourceGroup: p.resourceGroup, name: p.name };
}

type Scope = "operation" | "api" | "product" | "service";

function scopeOf(t: ApimPolicyTarget): Scope {
  if (t.operationId !== undefined) {
    if (t.apiId === undefined) throw new TypeError("ApimPolicyTarget: operationId needs apiId");
    return "operation";
  }
  if (t.apiId !== undefined) return "api";
  if (t.productId !== undefined) return "product";
  return "service";
}

const GROUP: Record<Scope, string> = {
  operation: "apiOperationPolicy",
  api: "apiPolicy",
  product: "productPolicy",
  service: "policy",
};

/**
 * The policy contract as the service sent it. arm-apimanagement 10 declares apiPolicy.get as an XML operation, so
 * its result never carries `value` (Azure/azure-sdk-for-js#31566); reading the JSON body ourselves works for every
 * scope and keeps one code path.
 */
function rawContract(r: FullOperationResponse | undefined): {
  value?: string;
  format?: string;
  description?: string;
  etag?: string;
} {
  if (!r) return {};
  const etag = r.headers.get("etag") ?? undefined;
  const text = r.bodyAsText ?? "";
  const contentType = r.headers.get("content-type") ?? "";
  if (/xml/i.test(contentType) && !/json/i.test(contentType)) return { value: text, etag };
  try {
    const body = JSON.parse(text) as {
      properties?: { value?: unknown; format?: unknown; description?: unknown };
    };
    const value = body.properties?.value;
    const format = body.properties?.format;
    const description = body.properties?.description;
    return {
      value: typeof value === "string" ? value : undefined,
      format: typeof format === "string" ? format : undefined,
      description: typeof description === "string" ? description : undefined,
      etag,
    };
  } catch {
    return { etag };
  }
}

/**
 * Without If-Match APIM only creates and answers 400 "Entity with the given ID already exists. Specify ETag, or '*'
 * for unconditional update." (Azure/azure-rest-api-specs#573, the APIM team on every entity PUT). For the caller
 * that is a failed precondition: someone created the entity since it was read as absent; read again, decide again.
 */
async function createOnlyRefusal<T>(
  ifMatch: string | undefined,
  operation: string,
  put: () => Promise<T>,
): Promise<T> {
  try {
    return await put();
  } catch (e) {
    if (
      ifMatch === undefined &&
      isAzureError(e) &&
      e.statusCode === 400 &&
      /already exists/i.test(e.message)
    ) {
      throw new AzureError({
        kind: "PreconditionFailed",
        message: e.message,
        statusCode: e.statusCode,
        code: e.code,
        service: "arm-apim",
        operation,
        cause: e,
      });
    }
    throw e;
  }
}

export class ApimAdapter implements ApimPort {
  readonly #clients: PerSubscription<ApiManagementClient>;
  readonly #lroPollIntervalMs: number;

  constructor(clients: PerSubscription<ApiManagementClient>, options: { lroPollIntervalMs?: number } = {}) {
    this.#clients = clients;
    this.#lroPollIntervalMs = options.lroPollIntervalMs ?? 2000;
  }

  async checkTarget(
    target: ApimPolicyTarget,
    call: CallOptions = {},
  ): Promise<{ exists: true } | { exists: false; missing: string }> {
    const s = parseServiceId(target.serviceId, "checkTarget");
    const c = this.#clients.get(s.subscriptionId);
    const service = await absentOn404(
      invoke("arm-apim", "apiManagementService.get", () =>
        c.apiManagementService.get(s.resourceGroup, s.name, { abortSignal: call.signal }),
      ),
    );
    if (!service) return { exists: false, missing: `service '${s.name}'` };
    if (target.productId !== undefined) {
      const productId = target.productId;
      const product = await absentOn404(
        invoke("arm-apim", "product.get", () =>
          c.product.get(s.resourceGroup, s.name, productId, { abortSignal: call.signal }),
        ),
      );
      if (!product) return { exists: false, missing: `product '${productId}'` };
    }
    if (target.apiId !== undefined) {
      const apiId = target.apiId;
      const api = await absentOn404(
        invoke("arm-apim", "api.get", () =>
          c.api.get(s.resourceGroup, s.name, apiId, { abortSignal: call.signal }),
        ),
      );
      if (!api) return { exists: false, missing: `api '${apiId}'` };
      if (target.operationId !== undefined) {
        const operationId = target.operationId;
        const op = await absentOn404(
          invoke("arm-apim", "apiOperation.get", () =>
            c.apiOperation.get(s.resourceGroup, s.name, apiId, operationId, { abortSignal: call.signal }),
          ),
        );
        if (!op) return { exists: false, missing: `operation '${apiId}/${operationId}'` };
      }
    }
    return { exists: true };
  }

  async getPolicy(target: ApimPolicyTarget, call: CallOptions = {}): Promise<PolicyDocument | undefined> {
    const s = parseServiceId(target.serviceId, "getPolicy");
    const c = this.#clients.get(s.subscriptionId);
    const scope = scopeOf(target);
    let raw: FullOperationResponse | undefined;
    const options = {
      format: RAWXML,
      abortSignal: call.signal,
      onResponse: (r: FullOperationResponse) => {
        raw = r;
      },
    };
    const got = await absentOn404(
      invoke("arm-apim", `${GROUP[scope]}.get`, (): Promise<PolicyContract & { eTag?: string }> => {
        switch (scope) {
          case "operation":
            return c.apiOperationPolicy.get(
              s.resourceGroup,
              s.name,
              target.apiId!,
              target.operationId!,
              POLICY_ID,
              options,
            );
          case "api":
            return c.apiPolicy.get(s.resourceGroup, s.name, target.apiId!, POLICY_ID, options);
          case "product":
            return c.productPolicy.get(s.resourceGroup, s.name, target.productId!, POLICY_ID, options);
          case "service":
            return c.policy.get(s.resourceGroup, s.name, POLICY_ID, options);
        }
      }),
    );
    if (!got) return undefined;
    const fromBody = rawContract(raw);
    const xml = fromBody.value ?? got.value;
    if (xml === undefined) return undefined;
    return { xml, etag: got.eTag ?? fromBody.etag ?? "" };
  }

  /**
   * The policy's ETag without its body: `HEAD …/policies/policy` (the `*Policy_GetEntityTag` operations of the APIM
   * REST spec, 2024-05-01; official example ApiManagementHeadApiPolicy.json answers 200 with only an `etag` header).
   * Undefined when there is no document (404). What the inventory polls instead of a GET per pass.
   */
  async getPolicyTag(target: ApimPolicyTarget, call: CallOptions = {}): Promise<string | undefined> {
    const s = parseServiceId(target.serviceId, "getPolicyTag");
    const c = this.#clients.get(s.subscriptionId);
    const scope = scopeOf(target);
    const options = { abortSignal: call.signal };
    const got = await absentOn404(
      invoke("arm-apim", `${GROUP[scope]}.getEntityTag`, (): Promise<{ eTag?: string }> => {
        switch (scope) {
          case "operation":
            return c.apiOperationPolicy.getEntityTag(
              s.resourceGroup,
              s.name,
              target.apiId!,
              target.operationId!,
              POLICY_ID,
              options,
            );
          case "api":
            return c.apiPolicy.getEntityTag(s.resourceGroup, s.name, target.apiId!, POLICY_ID, options);
          case "product":
            return c.productPolicy.getEntityTag(
              s.resourceGroup,
              s.name,
              target.productId!,
              POLICY_ID,
              options,
            );
          case "service":
            return c.policy.getEntityTag(s.resourceGroup, s.name, POLICY_ID, options);
        }
      }),
    );
    return got ? (got.eTag ?? "") : undefined;
  }

  /** A fragment's ETag (`PolicyFragment_GetEntityTag`, HEAD); undefined when it does not exist. */
  async getFragmentTag(
    serviceId: string,
    fragmentId: string,
    call: CallOptions = {},
  ): Promise<string | undefined> {
    const s = parseServiceId(serviceId, "getFragmentTag");
    const c = this.#clients.get(s.subscriptionId);
    const got = await absentOn404(
      invoke("arm-apim", "policyFragment.getEntityTag", () =>
        c.policyFragment.getEntityTag(s.resourceGroup, s.name, fragmentId, { abortSignal: call.signal }),
      ),
    );
    return got ? (got.eTag ?? "") : undefined;
  }

  /**
   * Every fragment of the service with its document (`PolicyFragment_ListByService`, 2024-05-01; official example
   * ApiManagementListPolicyFragments.json: `{value: [{name, properties: {format, description, value}}], count,
   * nextLink}`). The list has no ETags, so the inventory compares the documents; one paged list per service.
   */
  async listFragments(serviceId: string, call: CallOptions = {}): Promise<ListedFragment[]> {
    const s = parseServiceId(serviceId, "listFragments");
    const c = this.#clients.get(s.subscriptionId);
    return invoke("arm-apim", "policyFragment.listByService", async () => {
      const out: ListedFragment[] = [];
      for await (const f of c.policyFragment.listByService(s.resourceGroup, s.name, {
        abortSignal: call.signal,
      })) {
        if (f.name) out.push({ fragmentId: f.name, value: f.value ?? "" });
      }
      return out;
    });
  }

  async putPolicy(
    target: ApimPolicyTarget,
    xml: string,
    ifMatch: string | undefined,
    call: CallOptions = {},
  ): Promise<PolicyDocument> {
    const s = parseServiceId(target.serviceId, "putPolicy");
    const c = this.#clients.get(s.subscriptionId);
    const scope = scopeOf(target);
    const body: PolicyContract = { value: xml, format: RAWXML };
    let raw: FullOperationResponse | undefined;
    const options = {
      ...(ifMatch !== undefined ? { ifMatch } : {}),
      abortSignal: call.signal,
      onResponse: (r: FullOperationResponse) => {
        raw = r;
      },
    };
    const operation = `${GROUP[scope]}.createOrUpdate`;
    const put = await createOnlyRefusal(ifMatch, operation, () =>
      invoke("arm-apim", operation, (): Promise<PolicyContract & { eTag?: string }> => {
        switch (scope) {
          case "operation":
            return c.apiOperationPolicy.createOrUpdate(
              s.resourceGroup,
              s.name,
              target.apiId!,
              target.operationId!,
              POLICY_ID,
              body,
              options,
            );
          case "api":
            return c.apiPolicy.createOrUpdate(
              s.resourceGroup,
              s.name,
              target.apiId!,
              POLICY_ID,
              body,
              options,
            );
          case "product":
            return c.productPolicy.createOrUpdate(
              s.resourceGroup,
              s.name,
              target.productId!,
              POLICY_ID,
              body,
              options,
            );
          case "service":
            return c.policy.createOrUpdate(s.resourceGroup, s.name, POLICY_ID, body, options);
        }
      }),
    );
    const fromBody = rawContract(raw);
    // The PUT answer may echo the document in `xml` format (escaped, re-indented); only a rawxml echo is the
    // stored document byte-for-byte, otherwise what we sent is what a rawxml GET returns.
    const echoed = fromBody.format?.toLowerCase() === RAWXML ? fromBody.value : undefined;
    return { xml: echoed ?? xml, etag: put.eTag ?? fromBody.etag ?? "" };
  }

  async deletePolicy(target: ApimPolicyTarget, ifMatch: string, call: CallOptions = {}): Promise<void> {
    const options = { abortSignal: call.signal };
    const s = parseServiceId(target.serviceId, "deletePolicy");
    const c = this.#clients.get(s.subscriptionId);
    const scope = scopeOf(target);
    await absentOn404(
      invoke("arm-apim", `${GROUP[scope]}.delete`, (): Promise<void> => {
        switch (scope) {
          case "operation":
            return c.apiOperationPolicy.delete(
              s.resourceGroup,
              s.name,
              target.apiId!,
              target.operationId!,
              POLICY_ID,
              ifMatch,
              options,
            );
          case "api":
            return c.apiPolicy.delete(s.resourceGroup, s.name, target.apiId!, POLICY_ID, ifMatch, options);
          case "product":
            return c.productPolicy.delete(
              s.resourceGroup,
              s.name,
              target.productId!,
              POLICY_ID,
              ifMatch,
              options,
            );
          case "service":
            return c.policy.delete(s.resourceGroup, s.name, POLICY_ID, ifMatch, options);
        }
      }),
    );
  }

  async getFragment(
    serviceId: string,
    fragmentId: string,
    call: CallOptions = {},
  ): Promise<FragmentDocument | undefined> {
    const s = parseServiceId(serviceId, "getFragment");
    const c = this.#clients.get(s.subscriptionId);
    let raw: FullOperationResponse | undefined;
    const got = await absentOn404(
      invoke("arm-apim", "policyFragment.get", () =>
        c.policyFragment.get(s.resourceGroup, s.name, fragmentId, {
          format: RAWXML,
          abortSignal: call.signal,
          onResponse: (r) => {
            raw = r;
          },
        }),
      ),
    );
    if (!got) return undefined;
    const fromBody = rawContract(raw);
    const xml = fromBody.value ?? got.value;
    if (xml === undefined) return undefined;
    return {
      xml,
      etag: got.eTag ?? fromBody.etag ?? "",
      description: fromBody.description ?? got.description ?? "",
    };
  }

  async putFragment(
    serviceId: string,
    fragmentId: string,
    xml: string,
    description: string,
    ifMatch?: string,
    call: CallOptions = {},
  ): Promise<void> {
    const s = parseServiceId(serviceId, "putFragment");
    const c = this.#clients.get(s.subscriptionId);
    const operation = "policyFragment.createOrUpdate";
    // A long-running operation (final state via Location); every poll is a request of its own for the observer.
    await createOnlyRefusal(ifMatch, operation, () =>
      invoke("arm-apim", operation, () =>
        c.policyFragment.beginCreateOrUpdateAndWait(
          s.resourceGroup,
          s.name,
          fragmentId,
          { value: xml, format: RAWXML, description },
          {
            updateIntervalInMs: this.#lroPollIntervalMs,
            // The poller stops with the pass: abortSignal reaches the initial PUT and every poll.
            abortSignal: call.signal,
            ...(ifMatch !== undefined ? { ifMatch } : {}),
          },
        ),
      ),
    );
  }

  async deleteFragment(
    serviceId: string,
    fragmentId: string,
    ifMatch: string,
    call: CallOptions = {},
  ): Promise<void> {
    const s = parseServiceId(serviceId, "deleteFragment");
    const c = this.#clients.get(s.subscriptionId);
    await absentOn404(
      invoke("arm-apim", "policyFragment.delete", () =>
        c.policyFragment.delete(s.resourceGroup, s.name, fragmentId, ifMatch, { abortSignal: call.signal }),
      ),
    );
  }
}
