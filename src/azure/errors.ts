/**
 * One classification of Azure failures, so reconcilers and the work queue never parse SDK errors themselves
 * (the lesson of Azure Service Operator's error classifier).
 */
export type AzureErrorKind =
  | "NotFound" // 404: the thing is absent
  | "Exists" // 409 RoleAssignmentExists / Graph duplicate: adopt
  | "PrincipalNotFound" // fresh identity not replicated yet: retry with backoff
  | "PreconditionFailed" // 412: re-read and retry
  | "Throttled" // 429: wait Retry-After
  | "Transient" // 5xx, timeouts, resets: retry with backoff
  | "Forbidden" // 401/403: a person must grant the operator access
  | "Invalid" // other 4xx: the request (spec) is wrong
  | "Conflict"; // other 409 (e.g. concurrent edit)

export class AzureError extends Error {
  readonly kind: AzureErrorKind;
  readonly statusCode: number | undefined;
  readonly code: string | undefined;
  /** Server-provided delay before retrying (Retry-After), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  readonly service: string;
  readonly operation: string;

  constructor(args: {
    kind: AzureErrorKind;
    message: string;
    statusCode?: number;
    code?: string;
    retryAfterMs?: number;
    service: string;
    operation: string;
    cause?: unknown;
  }) {
    super(args.message, { cause: args.cause });
    this.name = "AzureError";
    this.kind = args.kind;
    this.statusCode = args.statusCode;
    this.code = args.code;
    this.retryAfterMs = args.retryAfterMs;
    this.service = args.service;
    this.operation = args.operation;
  }

  /** Errors a person has to fix; retrying alone will not help. */
  get needsPerson(): boolean {
    return this.kind === "Forbidden" || this.kind === "Invalid";
  }
}

export function isAzureError(e: unknown, kind?: AzureErrorKind): e is AzureError {
  return e instanceof AzureError && (kind === undefined || e.kind === kind);
}

/** Maps an HTTP status and service error code to a kind. */
export function classify(statusCode: number | undefined, code: string | undefined): AzureErrorKind {
  if (code === "PrincipalNotFound") return "PrincipalNotFound";
  if (code === "RoleAssignmentExists") return "Exists";
  if (statusCode === 404) return "NotFound";
  if (statusCode === 412) return "PreconditionFailed";
  if (statusCode === 429) return "Throttled";
  if (statusCode === 401 || statusCode === 403) return "Forbidden";
  if (statusCode === 409) return "Conflict";
  if (statusCode === undefined || statusCode === 408 || statusCode >= 500) return "Transient";
  return "Invalid";
}

/** Parses Retry-After (seconds or HTTP date) and the ms variants Azure also sends. */
export function parseRetryAfter(
  headers: { get(name: string): string | undefined | null },
  now = Date.now(),
): number | undefined {
  for (const h of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const v = headers.get(h);
    if (v && /^\d+$/.test(v)) return Number(v);
  }
  const v = headers.get("retry-after");
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
