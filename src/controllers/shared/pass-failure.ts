/**
 * How both reconcilers report a pass that an error stopped: one vocabulary for the Ready/Stalled/Reconciling
 * reason, the Event and the retry, so `kubectl describe` reads the same for every kind. Pure.
 */
import { AzureError } from "../../azure/errors.ts";

export interface PassFailure {
  /** CamelCase condition reason: AccessDenied, Throttled, InvalidRequest, AzureUnavailable, Conflict, Error. */
  reason: string;
  message: string;
  /** A person must act (grant access, fix the request): Stalled and a slow re-check instead of retries. */
  needsPerson: boolean;
  /** Reason of the Warning Event. */
  eventReason: "DeletionBlocked" | "Throttled" | "Rejected" | "AzureError";
  /** Set for throttling, for the metric. */
  throttledService?: string;
  /** Server-provided delay for the work queue. */
  retryAfterMs?: number;
}

export function describeFailure(
  error: Error,
  deleting: boolean,
  options: { conflictReason?: boolean } = {},
): PassFailure {
  const az = error instanceof AzureError ? error : undefined;
  const needsPerson = az?.needsPerson ?? false;
  const reason = !az
    ? options.conflictReason && error.name === "RetryableError"
      ? "Conflict"
      : "Error"
    : az.kind === "Forbidden"
      ? "AccessDenied"
      : az.kind === "Throttled"
        ? "Throttled"
        : az.kind === "Invalid"
          ? "InvalidRequest"
          : "AzureUnavailable";
  return {
    reason,
    message: az ? `${az.service} ${az.operation}: ${az.message}` : error.message,
    needsPerson,
    // A blocked deletion is what a person looks for first; then throttling; then a request Azure refused.
    eventReason: deleting
      ? "DeletionBlocked"
      : az?.kind === "Throttled"
        ? "Throttled"
        : needsPerson
          ? "Rejected"
          : "AzureError",
    ...(az?.kind === "Throttled" ? { throttledService: az.service } : {}),
    ...(az?.retryAfterMs !== undefined ? { retryAfterMs: az.retryAfterMs } : {}),
  };
}
