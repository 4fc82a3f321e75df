/**
 * The contract between the runtime and a reconciler: one key in, one of three outcomes out —
 * done (optionally "look again after requeueAfterMs"), retry with backoff (RetryableError or any other error),
 * or give up until the spec changes (TerminalError).
 */
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import type { ResourceType } from "./resource.ts";

/** namespace/name, or name for cluster-scoped objects. */
export interface ObjectKey {
  namespace?: string;
  name: string;
}

export function keyToString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

export function parseKey(key: string): ObjectKey {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function keyOf(obj: { metadata?: { name?: string; namespace?: string } }): ObjectKey {
  const name = obj.metadata?.name;
  if (!name) throw new Error("object has no metadata.name");
  return obj.metadata?.namespace ? { namespace: obj.metadata.namespace, name } : { name };
}

export interface ReconcileResult {
  /** Look at the object again after this long (polling the outside world). */
  requeueAfterMs?: number;
}

/** Read-only view of an informer cache. Objects are frozen: copy before changing. */
export interface CacheReader<T extends KubeObject = KubeObject> {
  get(key: ObjectKey | string): Readonly<T> | undefined;
  list(namespace?: string): Readonly<T>[];
  hasSynced(): boolean;
}

export interface ReconcileContext<T extends KubeObject = KubeObject> {
  readonly reconcileId: string;
  readonly key: ObjectKey;
  /** Bound with controller, key and reconcileId. */
  readonly log: Logger;
  /** Aborts when shutdown's deadline passes: stop external calls and return. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** Failed attempts since the last success (0 on a first try). */
  readonly attempt: number;
  /** The primary object as the cache holds it now (frozen), or undefined once it is gone. */
  object(): Readonly<T> | undefined;
  /** The cache of another resource the controller watches (or the primary one). */
  cache<U extends KubeObject = KubeObject>(resource: ResourceType): CacheReader<U>;
}

export interface Reconciler<T extends KubeObject = KubeObject> {
  reconcile(key: ObjectKey, ctx: ReconcileContext<T>): Promise<ReconcileResult>;
}

/** Try again; `retryAfterMs` replaces the exponential backoff (e.g. an Azure Retry-After header). */
export class RetryableError extends Error {
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RetryableError";
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Retrying cannot help (the user must change the spec): logged, counted, not retried until the generation changes. */
export class TerminalError extends Error {
  readonly reason: string;

  constructor(message: string, options: { reason?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TerminalError";
    this.reason = options.reason ?? "Terminal";
  }
}
