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
    return ERROR_CLASSES[this.kind].retry === "person";
  }
}

export function isAzureError(e: unknown, kind?: AzureErrorKind): e is AzureError {
  return e instanceof AzureError && (kind === undefined || e.kind === kind);
}

/** How the work queue should treat a failure of a kind (ASO's retryable fast / slow / fatal, plus re-read). */
export type RetryClass =
  | "fast" // back off from milliseconds: it clears by itself (5xx, replication)
  | "afterDelay" // wait what Azure says (Retry-After)
  | "reread" // read again and decide again: someone wrote between our read and our write
  | "person"; // retrying alone will not help: Stalled, slow re-check

export interface ErrorClass {
  retry: RetryClass;
  /** CamelCase condition reason a person can act on (Ready/Stalled/Reconciling). */
  reason: string;
  /** What to do about it, appended to the condition message. */
  hint: string;
}

/**
 * The vocabulary: every kind a pass can stop on, and what the status says about it. One table, so a new Azure
 * failure is one row (the shape of Azure Service Operator's classifier), not a branch in each reconciler.
 */
export const ERROR_CLASSES: Readonly<Record<AzureErrorKind, ErrorClass>> = {
  Throttled: {
    retry: "afterDelay",
    reason: "Throttled",
    hint: "Azure asked to slow down; retrying after its delay",
  },
  Transient: { retry: "fast", reason: "AzureUnavailable", hint: "Azure did not answer cleanly; retrying" },
  PrincipalNotFound: {
    retry: "fast",
    reason: "WaitingForPrincipalReplication",
    hint: "the identity is not visible to this Azure service yet; retrying",
  },
  PreconditionFailed: {
    retry: "reread",
    reason: "ConcurrentEdit",
    hint: "someone else changed it between our read and our write; reading again",
  },
  Conflict: {
    retry: "reread",
    reason: "AzureConflict",
    hint: "Azure refused the write because of the resource's current state; reading again",
  },
  NotFound: {
    retry: "fast",
    reason: "AzureResourceNotFound",
    hint: "it was deleted while the operator worked on it; retrying from a fresh read",
  },
  Exists: { retry: "reread", reason: "AlreadyExists", hint: "it exists already; reading again to adopt it" },
  Forbidden: {
    retry: "person",
    reason: "AccessDenied",
    hint: "grant the operator's identity access, then it retries by itself",
  },
  Invalid: { retry: "person", reason: "InvalidRequest", hint: "Azure refused the request; check the spec" },
};

/**
 * Service error codes that say more than their HTTP status (ARM `error.code`, Graph `error.code`). Codes not listed
 * fall back to the status.
 */
const BY_CODE: Readonly<Record<string, AzureErrorKind>> = {
  PrincipalNotFound: "PrincipalNotFound",
  RoleAssignmentExists: "Exists",
  AuthorizationFailed: "Forbidden",
  LinkedAuthorizationFailed: "Forbidden",
  InvalidAuthenticationToken: "Forbidden",
  // Role assignment names are GUIDs of (scope, role, principal); this one means a name collision, not a transient.
  RoleAssignmentUpdateNotPermitted: "Conflict",
  ConcurrentModification: "Conflict",
  ResourceGroupNotFound: "NotFound",
  ResourceNotFound: "NotFound",
  PreconditionFailed: "PreconditionFailed",
  TooManyRequests: "Throttled",
  // Graph app registrations (issue 13). An enabled app role must be disabled in one PATCH before a second removes
  // it or changes its value: retrying the same PATCH never helps.
  CannotDeleteOrUpdateEnabledEntitlement: "Invalid",
  // Set by the Graph adapter for Graph's 400 Request_BadRequest with detail ObjectConflict on identifierUris: the URI
  // belongs to another application in the tenant, which only a person can settle.
  IdentifierUriInUse: "Invalid",
  // Graph's 403, e.g. Application.ReadWrite.OwnedBy writing an application the operator does not own.
  Authorization_RequestDenied: "Forbidden",
  // Graph's 409 for a second service principal of one appId: adopt the existing one.
  Request_MultipleObjectsWithSameKeyValue: "Exists",
};

/**
 * Codes whose reason and hint say more than their kind's row in ERROR_CLASSES (same retry class): what a person
 * does about them. `errorClassOf` picks these first.
 */
export const CODE_CLASSES: Readonly<Record<string, ErrorClass>> = {
  CannotDeleteOrUpdateEnabledEntitlement: {
    retry: "person",
    reason: "AppRoleStillEnabled",
    hint:
      "Graph removes or renames an app role only once it is disabled: disable it (isEnabled false) in one change, " +
      "then remove or rename it in the next",
  },
  IdentifierUriInUse: {
    retry: "person",
    reason: "IdentifierUriInUse",
    hint:
      "another application in the tenant holds this identifier URI (case aside; a trailing slash makes a different " +
      "URI): choose another, or remove it from that application",
  },
  Authorization_RequestDenied: {
    retry: "person",
    reason: "AccessDenied",
    hint:
      "with Application.ReadWrite.OwnedBy the operator changes only applications it owns: add its service principal " +
      "as an owner of the application, or grant the missing Graph permission",
  },
};

/** The row that describes an error: its code's, when the code has one, else its kind's. */
export function errorClassOf(e: AzureError): ErrorClass {
  const byCode = e.code === undefined ? undefined : CODE_CLASSES[e.code];
  return byCode ?? ERROR_CLASSES[e.kind];
}

/** Maps an HTTP status and service error code to a kind. */
export function classify(statusCode: number | undefined, code: string | undefined): AzureErrorKind {
  const byCode = code === undefined ? undefined : BY_CODE[code];
  if (byCode) return byCode;
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
