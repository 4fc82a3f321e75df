/**
 * GraphPort over Microsoft Graph v1.0, spoken directly through an @azure/core-rest-pipeline pipeline (retries off,
 * bearer token for the Graph scope). Graph errors become AzureError with the same classification as ARM's, plus the
 * two Graph-specific cases: a duplicate assignment (400 "already exists" → Exists) and a principal the directory
 * has not replicated yet (404 on create → PrincipalNotFound).
 */
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
} from "@azure/core-rest-pipeline";
import type { HttpClient, HttpMethods, Pipeline, PipelineResponse } from "@azure/core-rest-pipeline";
import { AzureError, classify, parseRetryAfter } from "../errors.ts";
import type { AzureErrorKind } from "../errors.ts";
import type { AppRole, AppRoleAssignment, CallOptions, GraphPort, ServicePrincipal } from "../ports.ts";
import { invoke, observerPolicy, pipelineOptions } from "../arm/transport.ts";
import type { TransportSettings } from "../arm/transport.ts";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Upper bound on pages followed for one listing: protects a worker from a nextLink loop. */
const MAX_PAGES = 100;

interface GraphErrorBody {
  error?: { code?: string; message?: string };
}

function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function asString(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function toAppRole(r: Record<string, unknown>): AppRole {
  return {
    id: asString(r.id),
    value: asString(r.value),
    isEnabled: r.isEnabled !== false,
    allowedMemberTypes: Array.isArray(r.allowedMemberTypes) ? r.allowedMemberTypes.map(asString) : [],
  };
}

export function toServicePrincipal(sp: Record<string, unknown>): ServicePrincipal {
  return {
    id: asString(sp.id),
    appId: asString(sp.appId),
    displayName: asString(sp.displayName),
    servicePrincipalNames: Array.isArray(sp.servicePrincipalNames)
      ? sp.servicePrincipalNames.map(asString)
      : [],
    appRoles: Array.isArray(sp.appRoles) ? (sp.appRoles as Record<string, unknown>[]).map(toAppRole) : [],
    appOwnerOrganizationId: typeof sp.appOwnerOrganizationId === "string" ? sp.appOwnerOrganizationId : null,
  };
}

function toAssignment(a: Record<string, unknown>): AppRoleAssignment {
  return {
    id: asString(a.id),
    principalId: asString(a.principalId),
    resourceId: asString(a.resourceId),
    appRoleId: asString(a.appRoleId),
  };
}

export class GraphAdapter implements GraphPort {
  readonly #base: string;
  readonly #origin: string;
  readonly #pipeline: Pipeline;
  readonly #http: HttpClient;

  constructor(settings: TransportSettings) {
    const endpoint = settings.graphEndpoint.replace(/\/+$/, "");
    this.#base = `${endpoint}/v1.0`;
    this.#origin = new URL(endpoint).origin;
    this.#pipeline = createPipelineFromOptions({
      ...pipelineOptions(settings),
      userAgentOptions: { userAgentPrefix: "logicapp-identity-operator" },
    });
    this.#pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({ credential: settings.credential, scopes: settings.graphScopes }),
    );
    if (settings.budget) this.#pipeline.addPolicy(settings.budget.policy("graph"), { afterPhase: "Retry" });
    this.#pipeline.addPolicy(observerPolicy("graph", settings), { afterPhase: "Retry" });
    this.#http = createDefaultHttpClient();
  }

  findServicePrincipal(api: string, call: CallOptions = {}): Promise<ServicePrincipal | undefined> {
    const filter = GUID.test(api)
      ? `appId eq ${odataString(api)}`
      : `servicePrincipalNames/any(c:c eq ${odataString(api)})`;
    return invoke("graph", "servicePrincipals.list", async () => {
      const body = await this.#json(
        "servicePrincipals.list",
        `${this.#base}/servicePrincipals?$filter=${encodeURIComponent(filter)}`,
        call,
      );
      const value = Array.isArray(body.value) ? (body.value as Record<string, unknown>[]) : [];
      const first = value[0];
      return first ? toServicePrincipal(first) : undefined;
    });
  }

  listAppRoleAssignedTo(resourceId: string, call: CallOptions = {}): Promise<AppRoleAssignment[]> {
    return invoke("graph", "appRoleAssignedTo.list", async () => {
      const out: AppRoleAssignment[] = [];
      let url: string | undefined =
        `${this.#base}/servicePrincipals/${encodeURIComponent(resourceId)}/appRoleAssignedTo`;
      for (let page = 0; url !== undefined; page++) {
        if (page >= MAX_PAGES) throw new Error(`graph appRoleAssignedTo.list: more than ${MAX_PAGES} pages`);
        const body = await this.#json("appRoleAssignedTo.list", url, call);
        for (const a of Array.isArray(body.value) ? (body.value as Record<string, unknown>[]) : []) {
          out.push(toAssignment(a));
        }
        url = this.#nextLink(body["@odata.nextLink"]);
      }
      return out;
    });
  }

  createAppRoleAssignment(
    resourceId: string,
    principalId: string,
    appRoleId: string,
    call: CallOptions = {},
  ): Promise<AppRoleAssignment> {
    return invoke("graph", "appRoleAssignedTo.create", async () => {
      const res = await this.#send(
        "POST",
        `${this.#base}/servicePrincipals/${encodeURIComponent(resourceId)}/appRoleAssignedTo`,
        { principalId, resourceId, appRoleId },
        call,
      );
      if (res.status === 201 || res.status === 200) return toAssignment(parseJson(res));
      const err = graphError(res, "appRoleAssignedTo.create");
      if (res.status === 400 && /already exists/i.test(err.message)) {
        throw withKind(err, "Exists");
      }
      // 404 on create: the resource SP was just read, so an unknown object is almost always the fresh managed
      // identity that Graph has not replicated yet; unless the message names the resource, wait and retry.
      if (res.status === 404) {
        const namesResource = err.message.includes(resourceId) && !err.message.includes(principalId);
        throw withKind(err, namesResource ? "NotFound" : "PrincipalNotFound");
      }
      throw err;
    });
  }

  deleteAppRoleAssignment(resourceId: string, assignmentId: string, call: CallOptions = {}): Promise<void> {
    return invoke("graph", "appRoleAssignedTo.delete", async () => {
      const res = await this.#send(
        "DELETE",
        `${this.#base}/servicePrincipals/${encodeURIComponent(resourceId)}/appRoleAssignedTo/${encodeURIComponent(assignmentId)}`,
        undefined,
        call,
      );
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw graphError(res, "appRoleAssignedTo.delete");
    });
  }

  /** Only follow nextLinks on the Graph origin: the bearer token must not travel anywhere else. */
  #nextLink(link: unknown): string | undefined {
    if (typeof link !== "string" || link.length === 0) return undefined;
    const url = new URL(link, this.#base);
    if (url.origin !== this.#origin) {
      throw new Error(`graph: refusing @odata.nextLink outside ${this.#origin}: ${url.origin}`);
    }
    return url.toString();
  }

  async #json(operation: string, url: string, call: CallOptions): Promise<Record<string, unknown>> {
    const res = await this.#send("GET", url, undefined, call);
    if (res.status < 200 || res.status >= 300) throw graphError(res, operation);
    return parseJson(res);
  }

  #send(method: HttpMethods, url: string, body: unknown, call: CallOptions): Promise<PipelineResponse> {
    const headers = createHttpHeaders({ accept: "application/json" });
    if (body !== undefined) headers.set("content-type", "application/json");
    const request = createPipelineRequest({
      url,
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      abortSignal: call.signal,
    });
    return this.#pipeline.sendRequest(this.#http, request);
  }
}

export function parseJson(res: PipelineResponse): Record<string, unknown> {
  if (!res.bodyAsText) return {};
  const parsed: unknown = JSON.parse(res.bodyAsText);
  return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

/** Graph error body `{"error":{"code","message","innerError"}}` → AzureError (operation is filled by invoke). */
export function graphError(res: PipelineResponse, operation: string): AzureError {
  let code: string | undefined;
  let detail = "";
  try {
    const body = JSON.parse(res.bodyAsText ?? "") as GraphErrorBody;
    code = body.error?.code;
    detail = body.error?.message ?? "";
  } catch {
    // Not JSON (a proxy's HTML page, an empty 5xx): the status alone classifies it.
  }
  return new AzureError({
    kind: classify(res.status, code),
    message: `graph ${operation}: ${res.status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`,
    statusCode: res.status,
    code,
    retryAfterMs: parseRetryAfter(res.headers),
    service: "graph",
    operation,
  });
}

export function withKind(e: AzureError, kind: AzureErrorKind, code?: string): AzureError {
  return new AzureError({
    kind,
    message: e.message,
    statusCode: e.statusCode,
    code: code ?? e.code,
    retryAfterMs: e.retryAfterMs,
    service: e.service,
    operation: e.operation,
  });
}
