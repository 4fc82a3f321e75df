/**
 * Bounded retries of idempotent reads inside a pass (ADR 0026), the one exception to ADR 0005's "SDK retries off".
 * A pass makes ~10 reads; at a 30 % rate of 5xx a clean pass is luck (0.7^10 ≈ 3 %), and every failed pass costs a
 * work-queue backoff. Retrying a GET/HEAD that got a 5xx, a reset or a timeout a couple of times right here turns
 * each read's failure odds from p into p^3 while keeping ADR 0005's reasons intact:
 * - never a 429, nor a 5xx that carries Retry-After: Azure's delay goes to the work queue, no worker sleeps on it;
 * - never a write (PUT/PATCH/DELETE/POST): they stay single-shot, and a Graph `appRoleAssignedTo` POST is not
 *   idempotent at all (a second one after a lost answer is a 409 duplicate at best);
 * - never after the caller's abort signal fired (a shutdown or a cancelled pass stops at once, sleep included).
 * Installed in the Retry phase of every ARM and Graph pipeline (the SDK's own retry policy is off), before the budget
 * and the call observer, so each try draws from the budget and is reported once with its status.
 */
import { isRestError } from "@azure/core-rest-pipeline";
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";

export interface ReadRetryOptions {
  /** Retries after the first try; 0 turns the policy off. Default 2. */
  maxRetries?: number;
  /** Each wait is uniform in [minDelayMs, maxDelayMs] (full jitter, so a fleet's retries do not align). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** For tests; default Math.random. */
  random?: () => number;
}

export const READ_RETRY_DEFAULTS = { maxRetries: 2, minDelayMs: 200, maxDelayMs: 800 } as const;

/** HTTP methods that are safe and idempotent (RFC 9110 §9.2.1, §9.2.2): a repeat changes nothing in Azure. */
const IDEMPOTENT_READS = new Set(["GET", "HEAD"]);

/**
 * Socket-level failures worth another try within a pass: a subset of what the error classifier (transport.ts) calls
 * Transient. DNS and unreachable-network failures are left out on purpose: they do not heal within a retry's
 * 200–800 ms, so they go back to the work queue at once. REQUEST_SEND_ERROR is the pipeline's own code for a request
 * that never got out.
 */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "UND_ERR_SOCKET",
  "REQUEST_SEND_ERROR",
]);

/** A 5xx Azure did not put a delay on: a delay is Azure's request to wait, which the work queue honours. */
export function isRetryableReadResponse(res: PipelineResponse): boolean {
  if (res.status < 500) return false;
  return !["retry-after", "retry-after-ms", "x-ms-retry-after-ms"].some((h) => res.headers.has(h));
}

/** A request that got no answer: reset, refused, or our own request timeout (the runtime aborts it). */
export function isRetryableReadError(e: unknown, request: PipelineRequest): boolean {
  if (request.abortSignal?.aborted) return false; // the caller's cancellation, not a fault
  if (isRestError(e))
    return e.statusCode === undefined && (e.code === undefined || NETWORK_CODES.has(e.code));
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return (
    e.name === "AbortError" ||
    e.name === "TimeoutError" ||
    (typeof code === "string" && NETWORK_CODES.has(code))
  );
}

function sleep(ms: number, signal: PipelineRequest["abortSignal"]): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort);
  });
}

export function readRetryPolicy(options: ReadRetryOptions = {}): PipelinePolicy {
  const maxRetries = options.maxRetries ?? READ_RETRY_DEFAULTS.maxRetries;
  const min = options.minDelayMs ?? READ_RETRY_DEFAULTS.minDelayMs;
  const max = Math.max(min, options.maxDelayMs ?? READ_RETRY_DEFAULTS.maxDelayMs);
  const random = options.random ?? Math.random;
  return {
    name: "laioReadRetry",
    async sendRequest(request, next) {
      if (maxRetries <= 0 || !IDEMPOTENT_READS.has(request.method.toUpperCase())) return next(request);
      for (let attempt = 0; ; attempt++) {
        const last = attempt >= maxRetries;
        try {
          const res = await next(request);
          if (last || !isRetryableReadResponse(res)) return res;
        } catch (e) {
          if (last || !isRetryableReadError(e, request)) throw e;
        }
        if (!(await sleep(min + random() * (max - min), request.abortSignal))) {
          // Cancelled while waiting: one more try would only be aborted; report it as the runtime does.
          const abort = new Error("The operation was aborted.");
          abort.name = "AbortError";
          throw abort;
        }
      }
    },
  };
}
