/**
 * ApimChainPort over @azure/arm-apimanagement 10: the lists the access check composes a policy chain from
 * (ApiOperation_ListByApi, ApiProduct_ListByApis, ProductApi_ListByProduct; examples ApiManagementListApiOperations,
 * ApiManagementListApiProducts, ApiManagementListProductApis). Entity ids are the `name` of each listed contract.
 */
import type { ApiManagementClient } from "@azure/arm-apimanagement";
import type { ApimChainPort, CallOptions } from "../ports.ts";
import { invalidId, invoke, parseResourceId } from "./transport.ts";
import type { PerSubscription } from "./transport.ts";

function service(serviceId: string, operation: string): { sub: string; rg: string; name: string } {
  const p = parseResourceId(serviceId);
  if (!p || p.type !== "microsoft.apimanagement/service" || p.children.length > 0)
    throw invalidId("arm-apim", operation, serviceId, "an API Management service ID");
  return { sub: p.subscriptionId, rg: p.resourceGroup, name: p.name };
}

async function names(items: AsyncIterable<{ name?: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const i of items) if (i.name) out.push(i.name);
  return out;
}

export class ApimChainAdapter implements ApimChainPort {
  readonly #clients: PerSubscription<ApiManagementClient>;

  constructor(clients: PerSubscription<ApiManagementClient>) {
    this.#clients = clients;
  }

  listOperations(serviceId: string, apiId: string, call: CallOptions = {}): Promise<string[]> {
    const s = service(serviceId, "apiOperation.listByApi");
    const c = this.#clients.get(s.sub);
    return invoke("arm-apim", "apiOperation.listByApi", () =>
      names(c.apiOperation.listByApi(s.rg, s.name, apiId, { abortSignal: call.signal })),
    );
  }

  listApiProducts(serviceId: string, apiId: string, call: CallOptions = {}): Promise<string[]> {
    const s = service(serviceId, "apiProduct.listByApis");
    const c = this.#clients.get(s.sub);
    return invoke("arm-apim", "apiProduct.listByApis", () =>
      names(c.apiProduct.listByApis(s.rg, s.name, apiId, { abortSignal: call.signal })),
    );
  }

  listProductApis(serviceId: string, productId: string, call: CallOptions = {}): Promise<string[]> {
    const s = service(serviceId, "productApi.listByProduct");
    const c = this.#clients.get(s.sub);
    return invoke("arm-apim", "productApi.listByProduct", () =>
      names(c.productApi.listByProduct(s.rg, s.name, productId, { abortSignal: call.signal })),
    );
  }
}
