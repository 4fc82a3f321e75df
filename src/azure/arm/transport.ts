/**
 * What every Azure adapter shares: SDK pipeline options with retries off, the per-request observer policy, and the
 * single conversion of SDK failures into AzureError. Graph uses it too, so the rules are the same everywhere.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { performance } from "node:perf_hooks";
import type { TokenCredential } from "@azure/identity";
import { isRestError } from "@azure/core-rest-pipeline";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { AzureError, classify, parseRetryAfter } from "../errors.ts";
import type { AzureBudget } from "../inventory/budget.ts";
import type { AzureCallObserver, AzureService } from "../ports.ts";
import type { ReadRetryOptions } from "./read-retry.ts";

export const DEFAULT_ARM_ENDPOINT = "https://management.azure.com";
export const DEFAULT_ARM_SCOPE = "https://management.azure.com/.default";
export const DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com";
export const DEFAULT_GRAPH_SCOPE = "https://graph.microsoft.com/.default";
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Everything needed to build any client; resolved once by the composition root (../clients.ts). */
export interface TransportSettings {
  credential: TokenCredential;
  armEndpoint: string;
  armScopes: string[];
  graphEndpoint: string;
  graphScopes: string[];
  /** PEM bundle that replaces the default CA list (the emulator's self-signed CA in tests). */
  tlsCa: string | undefined;
  onCall: AzureCallObserver | undefined;
  requestTimeoutMs: number;
  /** Poll interval of long-running operations (APIM policy fragments). */
  lroPollIntervalMs: number;
  /** Client-side request budget (a pipeline policy before the observer); undefined: none. */
  budget?: AzureBudget | undefined;
  /** Bounded retries of GET/HEAD on 5xx, reset, timeout (./read-retry.ts, ADR 0026); default 2 retries. */
  readRetry?: ReadRetryOptions | undefined;
}

/**
 * Pipeline options shared by every SDK client. Retries are off (maxRetries 0 disables both the throttling and the
 * exponential strategy of the default retry policy): a 429/503 must reach the work queue with its Retry-After
 * instead of pinning a worker inside the SDK (Azure Service Operator's lesson). Reads are the one exception, with
 * their own narrower policy (./read-retry.ts, ADR 0026).
 */
export function pipelineOptions(settings: TransportSettings): {
  retryOptions: { maxRetries: number };
  tlsOptions?: { ca: string };
} {
  return {
    retryOptions: { maxRetries: 0 },
    ...(settings.tlsCa ? { tlsOptions: { ca: settings.tlsCa } } : {}),
  };
}

interface CallContext {
  operation: string;
}

const callContext = new AsyncLocalStorage<CallContext>();

/**
 * Reports every HTTP request (pages and LRO polls included) to the observer, with the adapter operation that is
 * running (carried by AsyncLocalStorage, since SDK requests do not carry our labels), and sets a request timeout.
 */
export function observerPolicy(service: AzureService, settings: TransportSettings): PipelinePolicy {
  return {
    name: "laioObserver",
    async sendRequest(request, next) {
      if (!request.timeout) request.timeout = settings.requestTimeoutMs;
      const operation = callContext.getStore()?.operation ?? "unknown";
      const started = performance.now();
      const report = (statusCode: number | undefined): void => {
        if (!settings.onCall) return;
        try {
          settings.onCall({ service, operation, statusCode, durationMs: performance.now() - started });
        } catch {
          // An observer bug must not turn a successful Azure call into a failed reconcile.
        }
      };
      try {
        const response = await next(request);
        report(response.status);
        return response;
      } catch (e) {
        report(isRestError(e) ? e.statusCode : undefined);
        throw e;
      }
    },
  };
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
]);

function errorCode(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The one conversion from whatever an SDK threw into AzureError. Returns undefined for errors that are not about
 * Azure at all (programming errors), which callers rethrow unchanged so they are not retried forever.
 */
export function toAzureError(e: unknown, service: string, operation: string): AzureError | undefined {
  if (e instanceof AzureError) return e;
  if (isRestError(e)) {
    const statusCode = e.statusCode;
    const code = e.code;
    // No status: the request never got an answer (reset, refused, timeout). A body we could not parse is most
    // likely a truncated answer; both are worth a retry, neither is the user's to fix.
    const kind =
      statusCode === undefined || code === "REQUEST_SEND_ERROR" || code === "PARSE_ERROR"
        ? "Transient"
        : classify(statusCode, code);
    const headers = e.response?.headers;
    return new AzureError({
      kind,
      message: `${service} ${operation}: ${statusCode ?? "no response"}${code ? ` ${code}` : ""}: ${e.message}`,
      statusCode,
      code,
      retryAfterMs: headers ? parseRetryAfter(headers) : undefined,
      service,
      operation,
      cause: e,
    });
  }
  const name = e instanceof Error ? e.name : undefined;
  const code = errorCode(e);
  if (name === "AbortError" || name === "TimeoutError" || (code !== undefined && NETWORK_CODES.has(code))) {
    return new AzureError({
      kind: "Transient",
      message: `${service} ${operation}: ${e instanceof Error ? e.message : String(e)}`,
      code,
      service,
      operation,
      cause: e,
    });
  }
  return undefined;
}

/** Runs one adapter operation: labels its requests for the observer and converts its failures. */
export async function invoke<T>(service: AzureService, operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await callContext.run({ operation }, fn);
  } catch (e) {
    throw toAzureError(e, service, operation) ?? e;
  }
}

/** Absence as a value: a 404 becomes undefined (Crossplane's observe contract). */
export async function absentOn404<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof AzureError && e.kind === "NotFound") return undefined;
    throw e;
  }
}

/** ARM IDs split into their segments, with the provider-independent parts named. */
export interface ParsedResourceId {
  subscriptionId: string;
  resourceGroup: string;
  /** `Microsoft.Logic/workflows`, lower-cased for comparison. */
  type: string;
  name: string;
  /** Child segments after the top-level resource name: [type, name, type, name, ...]. */
  children: string[];
}

/** Parses `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{child}/{name}...]`. */
export function parseResourceId(id: string): ParsedResourceId | undefined {
  const parts = id.split("/").filter((p) => p.length > 0);
  if (parts.length < 8) return undefined;
  if (parts[0]!.toLowerCase() !== "subscriptions") return undefined;
  if (parts[2]!.toLowerCase() !== "resourcegroups") return undefined;
  if (parts[4]!.toLowerCase() !== "providers") return undefined;
  return {
    subscriptionId: parts[1]!,
    resourceGroup: parts[3]!,
    type: `${parts[5]}/${parts[6]}`.toLowerCase(),
    name: parts[7]!,
    children: parts.slice(8),
  };
}

/** The subscription GUID of any ARM scope, or undefined for tenant/management-group scopes. */
export function subscriptionOf(scope: string): string | undefined {
  const m = /^\/?subscriptions\/([^/]+)/i.exec(scope);
  return m?.[1];
}

/**
 * arm-authorization declares `scope` and IDs as skip-encoding path parameters after a literal `/`; a leading slash
 * would make the request path start with `//`.
 */
export function withoutLeadingSlash(scope: string): string {
  return scope.replace(/^\/+/, "");
}

export function invalidId(service: string, operation: string, id: string, expected: string): AzureError {
  return new AzureError({
    kind: "Invalid",
    message: `${service} ${operation}: '${id}' is not ${expected}`,
    code: "InvalidResourceId",
    service,
    operation,
  });
}

/** Per-subscription memo: the generated ARM clients bind one subscription each. */
export class PerSubscription<T> {
  readonly #make: (subscriptionId: string) => T;
  readonly #clients = new Map<string, T>();
  constructor(make: (subscriptionId: string) => T) {
    this.#make = make;
  }
  get(subscriptionId: string): T {
    const key = subscriptionId.toLowerCase();
    let c = this.#clients.get(key);
    if (!c) {
      c = this.#make(subscriptionId);
      this.#clients.set(key, c);
    }
    return c;
  }
}
