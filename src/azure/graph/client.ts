/**
 * The one way the Graph adapters talk to Microsoft Graph v1.0: an @azure/core-rest-pipeline pipeline (retries off
 * but for reads, ADR 0026; bearer token for the Graph scope, observed like every adapter), JSON in and out,
 * nextLinks confined to the Graph origin. Graph errors become AzureError with the same classification as ARM's (../errors.ts).
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
import type { CallOptions } from "../ports.ts";
import { readRetryPolicy } from "../arm/read-retry.ts";
import { observerPolicy, pipelineOptions } from "../arm/transport.ts";
import type { TransportSettings } from "../arm/transport.ts";

interface GraphErrorBody {
  error?: { code?: string; message?: string };
}

export class GraphClient {
  /** `<endpoint>/v1.0`, the root every request URL is built on. */
  readonly base: string;
  readonly #origin: string;
  readonly #pipeline: Pipeline;
  readonly #http: HttpClient;

  constructor(settings: TransportSettings) {
    const endpoint = settings.graphEndpoint.replace(/\/+$/, "");
    this.base = `${endpoint}/v1.0`;
    this.#origin = new URL(endpoint).origin;
    this.#pipeline = createPipelineFromOptions({
      ...pipelineOptions(settings),
      userAgentOptions: { userAgentPrefix: "logicapp-identity-operator" },
    });
    this.#pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({ credential: settings.credential, scopes: settings.graphScopes }),
    );
    // GET/HEAD only: the appRoleAssignedTo POST is not idempotent and stays single-shot (ADR 0026).
    this.#pipeline.addPolicy(readRetryPolicy(settings.readRetry), { phase: "Retry" });
    // Every Graph request draws from the one budget, whichever adapter sends it.
    if (settings.budget) {
      this.#pipeline.addPolicy(settings.budget.policy("graph"), { afterPhase: "Retry" });
    }
    this.#pipeline.addPolicy(observerPolicy("graph", settings), { afterPhase: "Retry" });
    this.#http = createDefaultHttpClient();
  }

  /** Only follow nextLinks on the Graph origin: the bearer token must not travel anywhere else. */
  nextLink(link: unknown): string | undefined {
    if (typeof link !== "string" || link.length === 0) return undefined;
    const url = new URL(link, this.base);
    if (url.origin !== this.#origin) {
      throw new Error(`graph: refusing @odata.nextLink outside ${this.#origin}: ${url.origin}`);
    }
    return url.toString();
  }

  async getJson(operation: string, url: string, call: CallOptions): Promise<Record<string, unknown>> {
    const res = await this.send("GET", url, undefined, call);
    if (res.status < 200 || res.status >= 300) throw graphError(res, operation);
    return parseJson(res);
  }

  send(method: HttpMethods, url: string, body: unknown, call: CallOptions): Promise<PipelineResponse> {
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
