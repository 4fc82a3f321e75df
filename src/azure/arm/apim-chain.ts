/**
 * ApimChainPort over @azure/arm-apimanagement 10: the lists the access check composes a policy chain from
 * (ApiOperation_ListByApi, ApiProduct_ListByApis, ProductApi_ListByProduct; examples ApiManagementListApiOperations,
 * ApiManagementListApiProducts, ApiManagementListProductApis). Entity ids are the `name` of each listed contract.
 * And the gateway's host names for the workflow check (ApiManagementService_Get; example
 * ApiManagementServiceGetService: `gatewayUrl` plus `hostnameConfigurations`, custom domains with type Proxy).
 */
import type { ApiManagementClient } from "@azure/arm-apimanagement";
import type { ApimChainPort, CallOptions } from "../ports.ts";
import { absentOn404, invalidId, invoke, parseResourceId } from "./transport.ts";
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

  async getGatewayHosts(serviceId: string, call: CallOptions = {}): Promise<string[] | undefined> {
    const s = service(serviceId, "apiManagementService.get");
    const c = this.#clients.get(s.sub);
    const svc = await absentOn404(
      invoke("arm-apim", "apiManagementService.get", () =>
        c.apiManagementService.get(s.rg, s.name, { abortSignal: call.signal }),
      ),
    );
    if (!svc) return undefined;
    const hosts = new Set<string>();
    const gateway = svc.gatewayUrl ? hostOf(svc.gatewayUrl) : undefined;
    if (gateway) hosts.add(gateway);
    // Only Proxy hosts reach the gateway; DeveloperPortal, Management, Scm... are other endpoints of the service.
    for (const h of svc.hostnameConfigurations ?? [])
      if (h.type === "Proxy" && h.hostName) hosts.add(h.hostName.toLowerCase());
    return [...hosts];
  }
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}
