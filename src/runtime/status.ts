/**
 * Conditions with Kubernetes conventions and kstatus vocabulary, and a status writer that writes through the
 * /status subresource only when something changed, retrying optimistic-concurrency conflicts from a fresh read.
 */
import { isDeepStrictEqual } from "node:util";
import { findCondition, removeCondition, setCondition, type Condition } from "../api/v1alpha1/conditions.ts";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { isConflict, type KubeClient } from "./client.ts";
import type { ObjectKey } from "./reconciler.ts";
import type { ResourceType } from "./resource.ts";

export type { ConditionInput, ConditionStatus } from "../api/v1alpha1/conditions.ts";
export { rfc3339, setCondition, removeCondition } from "../api/v1alpha1/conditions.ts";

export const Ready = "Ready";
export const Reconciling = "Reconciling";
export const Stalled = "Stalled";

export { findCondition as getCondition } from "../api/v1alpha1/conditions.ts";

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * The kstatus triple, kept consistent:
 * - ready: Ready=True, Reconciling and Stalled removed;
 * - progressing: Ready=False/Unknown, Reconciling=True, Stalled removed;
 * - stalled: Ready=False, Stalled=True, Reconciling removed.
 */
export type Summary =
  | { state: "ready"; reason: string; message?: string }
  | { state: "progressing"; reason: string; message?: string; readyStatus?: "False" | "Unknown" }
  | { state: "stalled"; reason: string; message?: string };

export function summarize(
  conditions: readonly Condition[] | undefined,
  summary: Summary,
  generation: number | undefined,
  now: Date | string,
): Condition[] {
  const g = generation === undefined ? {} : { observedGeneration: generation };
  const base = { reason: summary.reason, message: summary.message ?? "", ...g };
  let list = [...(conditions ?? [])];
  switch (summary.state) {
    case "ready":
      list = setCondition(list, { type: Ready, status: "True", ...base }, now);
      list = removeCondition(removeCondition(list, Reconciling), Stalled);
      break;
    case "progressing":
      list = setCondition(list, { type: Ready, status: summary.readyStatus ?? "Unknown", ...base }, now);
      list = setCondition(list, { type: Reconciling, status: "True", ...base }, now);
      list = removeCondition(list, Stalled);
      break;
    case "stalled":
      list = setCondition(list, { type: Ready, status: "False", ...base }, now);
      list = setCondition(list, { type: Stalled, status: "True", ...base }, now);
      list = removeCondition(list, Reconciling);
      break;
  }
  return list;
}

export interface StatusWithConditions {
  observedGeneration?: number;
  conditions?: Condition[];
  [k: string]: unknown;
}

/** Computes the desired status from the current object (fresh on each conflict retry). Must not mutate. */
export type StatusFn<T extends KubeObject> = (current: Readonly<T>) => T["status"];

export interface StatusWriteResult<T> {
  written: boolean;
  object: T;
  attempts: number;
}

export class StatusWriter {
  private readonly client: KubeClient;
  private readonly maxAttempts: number;

  constructor(client: KubeClient, options: { maxAttempts?: number } = {}) {
    this.client = client;
    this.maxAttempts = options.maxAttempts ?? 5;
  }

  /**
   * Writes `desired(current)` as the status of `current` if it differs. `current` is usually the cached object;
   * on 409 Conflict the object is read fresh and `desired` is computed again.
   */
  async update<T extends KubeObject>(
    resource: ResourceType,
    current: Readonly<T>,
    desired: StatusFn<T>,
  ): Promise<StatusWriteResult<T>> {
    let obj: Readonly<T> = current;
    const key: ObjectKey = { name: current.metadata.name, namespace: current.metadata.namespace };
    for (let attempt = 1; ; attempt++) {
      const status = desired(obj);
      if (isDeepStrictEqual(normalize(status), normalize(obj.status))) {
        return { written: false, object: obj as T, attempts: attempt };
      }
      const body = { ...obj, status };
      try {
        const written = await this.client.replace<T>(resource, key, body, "status");
        return { written: true, object: written, attempts: attempt };
      } catch (err) {
        if (!isConflict(err) || attempt >= this.maxAttempts) throw err;
        obj = await this.client.get<T>(resource, key);
      }
    }
  }
}

/** JSON round trip: drops undefined fields so they compare equal to absent ones. */
function normalize(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}
