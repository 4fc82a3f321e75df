/**
 * How the engine reports a pass that an error stopped: one vocabulary for the Ready/Stalled/Reconciling reason,
 * the Event and the retry, so `kubectl describe` reads the same for every kind. The reasons come from the error
 * table in azure/errors.ts. Pure.
 */
import { AzureError, errorClassOf } from "../../azure/errors.ts";

export interface PassFailure {
  /** CamelCase condition reason: AccessDenied, Throttled, InvalidRequest, ConcurrentEdit, AzureConflict... */
  reason: string;
  message: string;
  /** What a person can do about it (or that nobody needs to). */
  hint?: string;
  /** A person must act (grant access, fix the request): Stalled and a slow re-check instead of retries. */
  needsPerson: boolean;
  /** Reason of the Warning Event. */
  eventReason: "DeletionBlocked" | "Throttled" | "Rejected" | "AzureError";
  /** Set for throttling, for the metric. */
  throttledService?: string;
  /** Server-provided delay for the work queue. */
  retryAfterMs?: number;
  /**
   * Azure was unavailable or throttled (5xx, timeout, reset, 429): says nothing about the object, so a Ready object
   * may stay Ready through it (./pass.ts, ADR 0026).
   */
  transient: boolean;
}

export function describeFailure(error: Error, deleting: boolean): PassFailure {
  if (!(error instanceof AzureError)) {
    return {
      reason: "Error",
      message: error.message,
      needsPerson: false,
      eventReason: deleting ? "DeletionBlocked" : "AzureError",
      transient: false,
    };
  }
  // By service error code first (e.g. AppRoleStillEnabled), else by kind.
  const c = errorClassOf(error);
  const needsPerson = c.retry === "person";
  // Adapters already name the call in their messages; say it once.
  const where = `${error.service} ${error.operation}: `;
  return {
    reason: c.reason,
    message: error.message.startsWith(where) ? error.message : where + error.message,
    hint: c.hint,
    needsPerson,
    // A blocked deletion is what a person looks for first; then throttling; then a request Azure refused.
    eventReason: deleting
      ? "DeletionBlocked"
      : error.kind === "Throttled"
        ? "Throttled"
        : needsPerson
          ? "Rejected"
          : "AzureError",
    transient: error.kind === "Transient" || error.kind === "Throttled",
    ...(error.kind === "Throttled" ? { throttledService: error.service } : {}),
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
  };
}
