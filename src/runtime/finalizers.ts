/**
 * Adding and removing a finalizer with optimistic concurrency: a JSON merge patch carrying metadata.resourceVersion
 * is rejected with 409 when the object changed, and the change is retried from a fresh read, so a concurrent edit
 * of the finalizer list is never lost.
 */
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { isConflict, isNotFound, MERGE_PATCH, type KubeClient } from "./client.ts";
import type { ObjectKey } from "./reconciler.ts";
import type { ResourceType } from "./resource.ts";

export function hasFinalizer(obj: Readonly<KubeObject>, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: Readonly<KubeObject>): boolean {
  return !!obj.metadata.deletionTimestamp;
}

async function updateFinalizers<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceType,
  obj: Readonly<T>,
  change: (current: readonly string[], obj: Readonly<T>) => string[] | undefined,
  maxAttempts: number,
): Promise<T | undefined> {
  const key: ObjectKey = { name: obj.metadata.name, namespace: obj.metadata.namespace };
  let current: Readonly<T> = obj;
  for (let attempt = 1; ; attempt++) {
    const next = change(current.metadata.finalizers ?? [], current);
    if (next === undefined) return current as T;
    try {
      return await client.patch<T>(
        resource,
        key,
        { metadata: { finalizers: next, resourceVersion: current.metadata.resourceVersion } },
        MERGE_PATCH,
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (!isConflict(err) || attempt >= maxAttempts) throw err;
      try {
        current = await client.get<T>(resource, key);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    }
  }
}

/**
 * Adds the finalizer unless present. Returns the object as written (or as it was), for use as the base of the
 * next write. Refuses to add to an object being deleted (the API server rejects it too).
 */
export async function ensureFinalizer<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceType,
  obj: Readonly<T>,
  finalizer: string,
  options: { maxAttempts?: number } = {},
): Promise<T | undefined> {
  return updateFinalizers(
    client,
    resource,
    obj,
    (list, cur) => (list.includes(finalizer) || isBeingDeleted(cur) ? undefined : [...list, finalizer]),
    options.maxAttempts ?? 5,
  );
}

/** Removes the finalizer if present. Returns undefined when the object is gone (deleted once released). */
export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceType,
  obj: Readonly<T>,
  finalizer: string,
  options: { maxAttempts?: number } = {},
): Promise<T | undefined> {
  return updateFinalizers(
    client,
    resource,
    obj,
    (list) => (list.includes(finalizer) ? list.filter((f) => f !== finalizer) : undefined),
    options.maxAttempts ?? 5,
  );
}
