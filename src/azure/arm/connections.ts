/**
 * ConnectionPort: managed API connections (`Microsoft.Web/connections`, api-version 2016-06-01) and their access
 * policies (`…/connections/{c}/accessPolicies/{p}`). No @azure/* client covers these (the 2016-06-01 swagger has
 * no accessPolicies path, wire facts §12), so this adapter sends ARM requests on a core-rest-pipeline pipeline with
 * the same options, budget and observer as the SDK clients, and turns failures into RestError so `invoke` classifies
 * them like every other ARM failure. Access policy body: Learn authenticate-with-managed-identity.md (Standard tab,
 * "ARM template for API connections and managed identities"): `properties.principal {type: "ActiveDirectory",
 * identity {objectId, tenantId}}`.
 */
import {
  RestError,
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
} from "@azure/core-rest-pipeline";
import type { HttpClient, HttpMethods, Pipeline } from "@azure/core-rest-pipeline";
import type { CallOptions, ConnectionAccessPolicy, ConnectionObservation, ConnectionPort } from "../ports.ts";
import {
  absentOn404,
  invalidId,
  invoke,
  observerPolicy,
  parseResourceId,
  pipelineOptions,
} from "./transport.ts";
import type { TransportSettings } from "./transport.ts";

const API_VERSION = "2016-06-01";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkId(id: string, operation: string): string {
  const p = parseResourceId(id);
  if (!p || p.type !== "microsoft.web/connections" || p.children.length !== 0)
    throw invalidId("arm-web", operation, id, "a Microsoft.Web/connections ID");
  return `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroup}/providers/Microsoft.Web/connections/${p.name}`;
}

function toPolicy(v: unknown): ConnectionAccessPolicy | undefined {
  if (!isObject(v) || typeof v.id !== "string" || typeof v.name !== "string") return undefined;
  const principal = isObject(v.properties) && isObject(v.properties.principal) ? v.properties.principal : {};
  const identity = isObject(principal.identity) ? principal.identity : {};
  if (typeof identity.objectId !== "string") return undefined;
  return {
    id: v.id,
    name: v.name.split("/").pop() ?? v.name,
    objectId: identity.objectId,
    ...(typeof identity.tenantId === "string" ? { tenantId: identity.tenantId } : {}),
  };
}

export class ConnectionAdapter implements ConnectionPort {
  readonly #endpoint: string;
  readonly #pipeline: Pipeline;
  readonly #http: HttpClient;

  constructor(settings: TransportSettings) {
    this.#endpoint = settings.armEndpoint;
    this.#pipeline = createPipelineFromOptions({
      ...pipelineOptions(settings),
      userAgentOptions: { userAgentPrefix: "logicapp-identity-operator" },
    });
    this.#pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({ credential: settings.credential, scopes: settings.armScopes }),
    );
    if (settings.budget) this.#pipeline.addPolicy(settings.budget.policy("arm-web"), { afterPhase: "Retry" });
    this.#pipeline.addPolicy(observerPolicy("arm-web", settings), { afterPhase: "Retry" });
    this.#http = createDefaultHttpClient();
  }

  async #send(method: HttpMethods, path: string, body: unknown, call: CallOptions): Promise<unknown> {
    const headers = createHttpHeaders({ accept: "application/json" });
    if (body !== undefined) headers.set("content-type", "application/json");
    const request = createPipelineRequest({
      url: `${this.#endpoint}${path}?api-version=${API_VERSION}`,
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      abortSignal: call.signal,
    });
    const res = await this.#pipeline.sendRequest(this.#http, request);
    let parsed: unknown;
    try {
      parsed = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status >= 200 && res.status < 300) return parsed;
    const err = isObject(parsed) && isObject(parsed.error) ? parsed.error : {};
    throw new RestError(typeof err.message === "string" ? err.message : `HTTP ${res.status}`, {
      statusCode: res.status,
      ...(typeof err.code === "string" ? { code: err.code } : {}),
      response: res,
      request,
    });
  }

  async observe(connectionId: string, call: CallOptions = {}): Promise<ConnectionObservation> {
    const path = checkId(connectionId, "connections.get");
    const got = await absentOn404(
      invoke("arm-web", "connections.get", () => this.#send("GET", path, undefined, call)),
    );
    if (!isObject(got)) return { exists: false };
    return {
      exists: true,
      ...(typeof got.kind === "string" ? { kind: got.kind } : {}),
      ...(typeof got.location === "string" ? { location: got.location } : {}),
      ...(isObject(got.properties) && typeof got.properties.createdTime === "string"
        ? { createdTime: got.properties.createdTime }
        : {}),
    };
  }

  async listAccessPolicies(connectionId: string, call: CallOptions = {}): Promise<ConnectionAccessPolicy[]> {
    const path = `${checkId(connectionId, "connections.listAccessPolicies")}/accessPolicies`;
    const got = await absentOn404(
      invoke("arm-web", "connections.listAccessPolicies", () => this.#send("GET", path, undefined, call)),
    );
    const value = isObject(got) && Array.isArray(got.value) ? got.value : [];
    return value.map(toPolicy).filter((p): p is ConnectionAccessPolicy => p !== undefined);
  }

  async putAccessPolicy(
    connectionId: string,
    name: string,
    principal: { objectId: string; tenantId: string },
    location: string,
    call: CallOptions = {},
  ): Promise<ConnectionAccessPolicy> {
    const path = `${checkId(connectionId, "connections.putAccessPolicy")}/accessPolicies/${encodeURIComponent(name)}`;
    const body = {
      location,
      properties: { principal: { type: "ActiveDirectory", identity: { ...principal } } },
    };
    const got = await invoke("arm-web", "connections.putAccessPolicy", () =>
      this.#send("PUT", path, body, call),
    );
    return toPolicy(got) ?? { id: path, name, ...principal };
  }

  async deleteAccessPolicy(connectionId: string, name: string, call: CallOptions = {}): Promise<void> {
    const path = `${checkId(connectionId, "connections.deleteAccessPolicy")}/accessPolicies/${encodeURIComponent(name)}`;
    await absentOn404(
      invoke("arm-web", "connections.deleteAccessPolicy", () => this.#send("DELETE", path, undefined, call)),
    );
  }
}
