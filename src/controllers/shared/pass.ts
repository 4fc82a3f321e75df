/**
 * One reconcile pass, the same for every kind (Crossplane's managed reconciler is the model: it wraps any external
 * client). The path, in order:
 *   cache object → finalizer (before any Azure write) → the kind's rounds (./rounds.ts: gather → decide → guard
 *   → write-ahead → apply) → status (conditions stamped here, written only if changed, never from a stale cache)
 *   → Events and metrics from the typed reports → finalizer released when decide says so → requeue.
 * An error that stops the pass becomes conditions, one Warning Event, a metric and a work-queue outcome, here only.
 * A kind is its gather, decide, apply and report (`Kind`); it never touches status, events or the queue.
 */
import {
  applyConditions,
  findCondition,
  rfc3339,
  type Condition,
  type ConditionInput,
} from "../../api/v1alpha1/conditions.ts";
import { FINALIZER } from "../../api/v1alpha1/index.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { CallOptions } from "../../azure/ports.ts";
import type { KubeClient } from "../../runtime/client.ts";
import type { EventSink } from "../../runtime/events.ts";
import { ensureFinalizer, removeFinalizer } from "../../runtime/finalizers.ts";
import type { OperatorMetrics } from "../../runtime/metrics.ts";
import {
  RetryableError,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
} from "../../runtime/reconciler.ts";
import type { ResourceType } from "../../runtime/resource.ts";
import type { StatusWriter } from "../../runtime/status.ts";
import { describeFailure, type PassFailure } from "./pass-failure.ts";
import {
  recheckAfterMs,
  runRounds,
  statusOf,
  type Decision,
  type Denial,
  type Guard,
  type PassAction,
  type PassEvent,
  type PassHooks,
  type Report,
  type StatusBase,
} from "./rounds.ts";

/** What a kind's hooks may use for one pass. */
export interface PassEnv<T extends KubeObject> {
  /** Hand to every port call: the reconcile's abort signal. */
  call: CallOptions;
  ctx: ReconcileContext<T>;
  /** Ownership records, when wired: read them in gather (the engine writes intent before apply). */
  records?: OwnershipRecords;
}

/** A kind, as the engine runs it. */
export interface Kind<T extends KubeObject<unknown, S>, O, A extends PassAction, S extends StatusBase> {
  /** Metric label and log name, e.g. LogicAppIdentityBinding. */
  name: string;
  resource: ResourceType;
  /** false for a kind that writes nothing outside its own status (no cleanup to guard). Default true. */
  finalizer?: boolean;
  open(obj: Readonly<T>, env: PassEnv<T>): PassHooks<T, O, A, S>;
}

/**
 * The seam for an ownership record store (ConfigMaps, written before Azure writes so a lost status write never
 * loses what the operator created). Kinds read it in gather through `PassEnv.records`; the engine calls
 * `recordIntent` write-ahead, after the status write-ahead and before apply. A throw stops the pass unwritten.
 */
export interface OwnershipRecords {
  recordIntent(
    obj: Readonly<KubeObject>,
    kind: string,
    writes: readonly PassAction[],
    call: CallOptions,
  ): Promise<void>;
}

export interface PassDeps<T extends KubeObject> {
  client: KubeClient;
  status: StatusWriter;
  events: EventSink;
  metrics?: OperatorMetrics;
  /** Between decide and apply: denied writes never reach Azure and surface as Stalled + a Warning Event. */
  guard?: Guard<T>;
  records?: OwnershipRecords;
  /** Re-check of something a person must fix. Default 5 min. */
  stalledRecheckMs?: number;
  /** Re-check when rounds ran out with writes Azure does not show yet. Default 5 s. */
  pendingRecheckMs?: number;
  maxRounds?: number;
  maxConflicts?: number;
  /**
   * How long a Ready object stays Ready through transient Azure failures of passes that found no drift (ADR 0026).
   * Default 10 min.
   */
  transientGraceMs?: number;
}

/**
 * Did the last pass succeed? (Crossplane's `Synced`.) Not read by kstatus, so a Ready object whose resync met a
 * 500 stays Current for Flux and Argo CD while this says why the operator is retrying. Written by the engine only:
 * False on every failed pass, True on a successful pass once it exists.
 */
export const SYNCED = "Synced";
export const DEFAULT_TRANSIENT_GRACE_MS = 600_000;

/** Our own last status write is newer than the cache this pass read: never overwrite it, read again. */
export class StaleCacheError extends RetryableError {
  constructor() {
    super("object changed while reconciling (stale cache); reconciling again");
    this.name = "StaleCacheError";
  }
}

export class PassReconciler<
  T extends KubeObject<unknown, S>,
  O,
  A extends PassAction,
  S extends StatusBase,
> implements Reconciler<T> {
  private readonly kind: Kind<T, O, A, S>;
  private readonly deps: PassDeps<T>;

  constructor(kind: Kind<T, O, A, S>, deps: PassDeps<T>) {
    this.kind = kind;
    this.deps = deps;
  }

  async reconcile(_key: ObjectKey, ctx: ReconcileContext<T>): Promise<ReconcileResult> {
    const cached = ctx.object();
    if (!cached) return {}; // gone: its finalizer already ran
    const before = structuredClone(cached) as T;
    const deleting = before.metadata.deletionTimestamp !== undefined;
    const guarded = this.kind.finalizer !== false;
    if (deleting && (!guarded || !(before.metadata.finalizers ?? []).includes(FINALIZER))) return {};
    let obj = before;
    if (!deleting && guarded) {
      // Before the first Azure write, so a crash can never leak something without a way to remove it.
      const written = await ensureFinalizer<T>(this.deps.client, this.kind.resource, obj, FINALIZER);
      if (!written) return {};
      obj = written;
    }
    const now = () => rfc3339(new Date(ctx.clock.now()));
    const call: CallOptions = { signal: ctx.signal };
    const hooks = this.kind.open(obj, {
      call,
      ctx,
      ...(this.deps.records ? { records: this.deps.records } : {}),
    });
    try {
      const pass = await runRounds(hooks, obj, {
        now,
        signal: ctx.signal,
        ...(this.deps.maxRounds !== undefined ? { maxRounds: this.deps.maxRounds } : {}),
        ...(this.deps.maxConflicts !== undefined ? { maxConflicts: this.deps.maxConflicts } : {}),
        ...(this.deps.guard ? { guard: this.deps.guard } : {}),
        onRound: (writes, round) => ctx.log.info({ actions: writes.map((a) => a.type), round }, "applying"),
        beforeWrites: async (decision, writes) => {
          // Intent first: a pass whose final status write fails must still know what it created.
          if (hooks.needsWriteAhead?.(writes)) {
            const written = await this.writeStatus(obj, statusOf(obj.status?.conditions, decision, now()));
            if (written) obj = written;
          }
          await this.deps.records?.recordIntent(obj, this.kind.name, writes, call);
        },
      });
      for (const r of pass.reports) this.report(obj, r);
      const { decision, stoppedBy } = pass;
      // Drift is known once the pass decided a write (rounds go on only while decide wants writes) or made one.
      const driftKnown = (decision?.actions.length ?? 0) > 0 || pass.succeeded.length > 0;
      if (stoppedBy) return this.fail(obj, decision, stoppedBy, now(), deleting, ctx, driftKnown);
      if (!decision) return {};

      const denied = withDenials(decision, pass.denied, obj.metadata.generation);
      const final = findCondition(obj.status?.conditions, SYNCED)
        ? { ...denied, conditions: [...denied.conditions, syncedAgain(obj.metadata.generation)] }
        : denied;
      const denial = pass.denied[0];
      if (denial) {
        const note = pass.denied.map((x) => `${x.action.type} not applied: ${x.message}`).join("; ");
        this.deps.events.record(obj, { type: "Warning", reason: denial.reason, note });
      }
      const status = statusOf(obj.status?.conditions, final, now());
      const stalledEvent = stalledTransition(before.status?.conditions, status.conditions, final.stalled);
      if (stalledEvent) this.deps.events.record(before, stalledEvent);
      const current = await this.writeStatus(obj, status);
      if (final.finalize) {
        await hooks.finalized?.();
        await removeFinalizer(this.deps.client, this.kind.resource, current ?? obj, FINALIZER);
        return {};
      }
      // A refusal is lifted by a person — an AzureAccessPolicy, a namespace's labels or the spec changing, each of
      // which enqueues the object through the tenancy watches or its own watch — not by time: no Stalled recheck
      // for it (10,000 refused objects rechecked every 5 min kept the queue from ever emptying, benchmarks).
      const refusedOnly = denial !== undefined && (!decision.stalled || decision.stalledOnPolicy === true);
      const again = recheckAfterMs(refusedOnly ? { ...final, stalledOnPolicy: true } : final, this.deps);
      return again === undefined ? {} : { requeueAfterMs: again };
    } finally {
      // Whatever the kind kept for this pass (its ownership session) must not outlive it: thousands of objects
      // would otherwise each keep their last pass (object, logger, context) for as long as they exist.
      hooks.closed?.();
    }
  }

  private report(obj: Readonly<T>, r: Report): void {
    if (r.event) this.deps.events.record(obj, r.event);
    if (r.metric) this.deps.metrics?.[r.metric.name](this.kind.name, r.metric.facet);
  }

  private async writeStatus(obj: Readonly<T>, status: S): Promise<T | undefined> {
    try {
      // Status computed from a cache that lagged behind our own last write must not overwrite that write (it
      // would forget ownership or a target it recorded): on a conflict, reconcile again from a fresh read.
      const r = await this.deps.status.update<T>(this.kind.resource, obj, (current) => {
        if (current.metadata.resourceVersion !== obj.metadata.resourceVersion) throw new StaleCacheError();
        return status;
      });
      return r.object;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  /** An error stopped the pass: say so in status and one Event, then let the queue decide when to retry. */
  private async fail(
    obj: Readonly<T>,
    decision: Decision<A, S> | undefined,
    error: Error,
    now: string,
    deleting: boolean,
    ctx: ReconcileContext<T>,
    driftKnown: boolean,
  ): Promise<ReconcileResult> {
    if (error instanceof StaleCacheError) throw error;
    const f = describeFailure(error, deleting);
    ctx.log.warn({ err: error, reason: f.reason }, "pass stopped");
    const g = obj.metadata.generation !== undefined ? { observedGeneration: obj.metadata.generation } : {};
    const message = f.hint ? `${f.message} (${f.hint})` : f.message;
    const base = decision ? statusOf(obj.status?.conditions, decision, now) : (obj.status ?? ({} as S));
    const synced: ConditionInput = { type: SYNCED, status: "False", reason: f.reason, message, ...g };
    const hold = readyHold({
      conditions: obj.status?.conditions,
      generation: obj.metadata.generation,
      failure: f,
      deleting,
      driftKnown,
      nowMs: ctx.clock.now(),
      graceMs: this.deps.transientGraceMs ?? DEFAULT_TRANSIENT_GRACE_MS,
    });
    if (hold !== "none") {
      // Every grant was in effect when last observed and nothing seen since says otherwise: Ready stays, Synced
      // says why the operator retries, one Warning per episode (the reason may change within it).
      if (f.throttledService) this.deps.metrics?.throttled(f.throttledService);
      if (hold === "new") {
        this.deps.events.record(obj, {
          type: "Warning",
          reason: f.eventReason,
          note: `${f.message}; still Ready (no drift known), retrying`,
        });
      }
      const held = applyConditions(base.conditions, [synced], now);
      await this.writeFailureStatus(obj, { ...base, conditions: held }, f, error);
      throw new RetryableError(f.message, { retryAfterMs: f.retryAfterMs, cause: error });
    }
    const conditions = applyConditions(
      base.conditions,
      [
        synced,
        {
          type: "Ready",
          status: "False",
          reason: deleting ? "DeletionBlocked" : f.reason,
          message,
          ...g,
        },
        f.needsPerson
          ? { type: "Stalled", status: "True", reason: f.reason, message, ...g }
          : { type: "Reconciling", status: "True", reason: f.reason, message, ...g },
      ],
      now,
    );
    // Reported before the status write, which a stale cache can refuse: the Event holds either way.
    if (f.throttledService) this.deps.metrics?.throttled(f.throttledService);
    this.deps.events.record(obj, { type: "Warning", reason: f.eventReason, note: f.message });
    await this.writeFailureStatus(obj, { ...base, conditions }, f, error);
    if (f.needsPerson) return { requeueAfterMs: this.deps.stalledRecheckMs ?? 300_000 };
    throw new RetryableError(f.message, { retryAfterMs: f.retryAfterMs, cause: error });
  }

  private async writeFailureStatus(obj: Readonly<T>, status: S, f: PassFailure, error: Error): Promise<void> {
    try {
      await this.writeStatus(obj, status);
    } catch (e) {
      // A stale cache must not turn Azure's Retry-After into an immediate retry: the delay still holds.
      if (e instanceof StaleCacheError && f.retryAfterMs !== undefined) {
        throw new RetryableError(f.message, { retryAfterMs: f.retryAfterMs, cause: error });
      }
      throw e;
    }
  }
}

function syncedAgain(generation: number | undefined): ConditionInput {
  return {
    type: SYNCED,
    status: "True",
    reason: "Succeeded",
    message: "",
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

export interface ReadyHoldInput {
  conditions: readonly Condition[] | undefined;
  generation: number | undefined;
  failure: Pick<PassFailure, "transient">;
  deleting: boolean;
  /** The pass decided or made a write before it failed. */
  driftKnown: boolean;
  nowMs: number;
  graceMs: number;
}

/**
 * Whether a failed pass keeps Ready=True (finding 6 of docs/reliability.md, ADR 0026): "new" starts an episode,
 * "ongoing" continues one, "none" fails as before. Only a transient Azure failure (5xx, timeout, reset, 429) of a
 * pass that knew of no drift, on an object Ready for its current generation, and only for `graceMs` from the
 * episode's start (Synced's lastTransitionTime, kept in status so a restart does not reset the clock).
 */
export function readyHold(i: ReadyHoldInput): "new" | "ongoing" | "none" {
  if (i.graceMs <= 0 || i.deleting || !i.failure.transient || i.driftKnown) return "none";
  const ready = findCondition(i.conditions, "Ready");
  if (ready?.status !== "True") return "none";
  if (i.generation !== undefined && ready.observedGeneration !== i.generation) return "none";
  const synced = findCondition(i.conditions, SYNCED);
  if (synced?.status !== "False") return "new";
  const since = Date.parse(synced.lastTransitionTime);
  if (Number.isNaN(since) || i.nowMs - since >= i.graceMs) return "none";
  return "ongoing";
}

/** One Warning when the object becomes Stalled (or stalls for another reason), not one per pass. */
export function stalledTransition(
  before: readonly Condition[] | undefined,
  after: readonly Condition[] | undefined,
  stalled: boolean,
): PassEvent | undefined {
  const now = findCondition(after, "Stalled");
  if (!stalled || now?.status !== "True") return undefined;
  const was = findCondition(before, "Stalled");
  if (was?.status === "True" && was.reason === now.reason) return undefined;
  return { type: "Warning", reason: "Stalled", note: `${now.reason}: ${now.message}` };
}

/**
 * Writes the guard refused are the object's problem until a person allows them or changes the spec: Stalled with
 * the guard's reason, Ready False, and the denied writes stay out of "pending" (they will not happen by waiting).
 */
export function withDenials<A extends PassAction, S>(
  d: Decision<A, S>,
  denied: readonly Denial<A>[],
  generation: number | undefined,
): Decision<A, S> {
  const first = denied[0];
  if (!first) return d;
  const g = generation !== undefined ? { observedGeneration: generation } : {};
  const message = denied.map((x) => `${x.action.type}: ${x.message}`).join("; ");
  // By value: the last round may have decided the same write again after the guard last ran.
  const refused = new Set(denied.map((x) => JSON.stringify(x.action)));
  return {
    ...d,
    actions: d.actions.filter((a) => !refused.has(JSON.stringify(a))),
    stalled: true,
    conditions: [
      ...d.conditions.filter((c) => c.type !== "Ready" && c.type !== "Stalled" && c.type !== "Reconciling"),
      { type: "Ready", status: "False", reason: first.reason, message, ...g },
      { type: "Stalled", status: "True", reason: first.reason, message, ...g },
      { type: "Reconciling", status: "False", reason: first.reason, message: "", ...g },
    ],
  };
}
