/**
 * ApimJwtPolicy reconciler: the path of one pass.
 *   cache object (+ the referenced binding from the binding cache, no API call) → finalizer (before any APIM write)
 *   → clean the previous target when the spec moved → gather (ports, read-only) → decide (pure) → apply → repeat
 *   until a round has nothing to write, so one pass ends observed (Ready=True means "seen in APIM") → status written
 *   only if it changed → events → finalizer released when decide says so.
 * A 412 on the shared document means someone saved it between our read and our write: read again and decide again,
 * a bounded number of times. Throttling waits for Retry-After; access denied / invalid request is Stalled plus a
 * slow re-check; other Azure failures back off through the work queue.
 */
import { JWT_POLICY_RESOURCE } from "../resources.ts";
import {
  ConditionType,
  FINALIZER,
  JWT_POLICY_KIND,
  findCondition,
  rfc3339,
  setCondition,
  type ApimJwtPolicy,
  type Condition,
  type JwtPolicyStatus,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { describeFailure } from "../shared/pass-failure.ts";
import { legacyFragmentId as fragmentIdOf } from "../../azure/naming.ts";
import type { KubeClient } from "../../runtime/client.ts";
import type { EventInput, EventSink } from "../../runtime/events.ts";
import { ensureFinalizer, removeFinalizer } from "../../runtime/finalizers.ts";
import type { OperatorMetrics } from "../../runtime/metrics.ts";
import {
  RetryableError,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
} from "../../runtime/reconciler.ts";
import type { StatusWriter } from "../../runtime/status.ts";
import { BINDING_RESOURCE } from "../resources.ts";
import { apply } from "./apply.ts";
import {
  decide,
  ruleInput,
  targetLabel,
  type ConditionUpdate,
  type Decision,
  type Desired,
} from "./decide.ts";
import { apimTarget, bindingFacts, gather, targetFromLabel, type JwtPolicyPorts } from "./gather.ts";

export { JWT_POLICY_RESOURCE };

export interface JwtPolicyReconcilerDeps {
  ports: JwtPolicyPorts;
  client: KubeClient;
  status: StatusWriter;
  events: EventSink;
  metrics?: OperatorMetrics;
  /** Re-check of something a person must fix (target missing, malformed XML, access denied). Default 5 min. */
  stalledRecheckMs?: number;
  /** Re-check while waiting for the binding (its watch also wakes us). Default 1 min. */
  waitRecheckMs?: number;
  /** Gather/decide/apply rounds per pass (without 412 retries). Default 4. */
  maxRounds?: number;
  /** 412 re-reads per pass before giving up to the work queue. Default 3. */
  maxConflicts?: number;
}

/** Keys of the ApimJwtPolicies that reference a binding, for the binding watch. */
export function policiesReferencing(
  binding: Readonly<LogicAppIdentityBinding>,
  policies: { list(namespace?: string): readonly Readonly<ApimJwtPolicy>[] },
): ObjectKey[] {
  const ns = binding.metadata.namespace;
  return policies
    .list(ns)
    .filter((p) => p.metadata.namespace === ns && p.spec.bindingRef?.name === binding.metadata.name)
    .map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name }));
}

function withConditions(
  existing: readonly Condition[] | undefined,
  updates: readonly ConditionUpdate[],
  now: string,
): Condition[] {
  let list = [...(existing ?? [])];
  for (const u of updates) list = setCondition(list, u, now);
  return list;
}

function ruleInputWaits(desired: Desired): boolean {
  const r = ruleInput(desired);
  return !r.ok && r.wait;
}

const isStalled = (d: Decision) => d.conditions.some((c) => c.type === "Stalled" && c.status === "True");
const readyReason = (d: Decision) => d.conditions.find((c) => c.type === "Ready")?.reason ?? "";

export class JwtPolicyReconciler implements Reconciler<ApimJwtPolicy> {
  private readonly deps: JwtPolicyReconcilerDeps;

  constructor(deps: JwtPolicyReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(_key: ObjectKey, ctx: ReconcileContext<ApimJwtPolicy>): Promise<ReconcileResult> {
    const cached = ctx.object();
    if (!cached) return {};
    let obj = structuredClone(cached) as ApimJwtPolicy;
    const deleting = obj.metadata.deletionTimestamp !== undefined;
    if (deleting && !(obj.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    if (!deleting) {
      // Before the first APIM write: a crash after it must never leave an include nobody will remove.
      const written = await ensureFinalizer(this.deps.client, JWT_POLICY_RESOURCE, obj, FINALIZER);
      if (!written) return {};
      obj = written;
    }

    const ns = obj.metadata.namespace ?? "";
    const name = obj.metadata.name;
    const fid = fragmentIdOf(ns, name);
    const spec = obj.spec;
    const bindingName = spec.bindingRef?.name;
    const binding =
      bindingName && !deleting
        ? bindingFacts(
            bindingName,
            ctx.cache<LogicAppIdentityBinding>(BINDING_RESOURCE).get({ namespace: ns, name: bindingName }) as
              Readonly<LogicAppIdentityBinding> | undefined,
          )
        : undefined;
    const desired: Desired = {
      namespace: ns,
      name,
      ...(obj.metadata.generation !== undefined ? { generation: obj.metadata.generation } : {}),
      spec,
      fragmentId: fid,
      ...(binding ? { binding } : {}),
      ...(deleting ? { deleting: true } : {}),
    };
    const target = apimTarget(spec.apimServiceId, spec.target);
    const label = targetLabel(spec.target);
    const previousLabel = obj.status?.target;
    const moved = previousLabel !== undefined && previousLabel !== label;
    const now = () => rfc3339(new Date(ctx.clock.now()));

    let decision: Decision | undefined;
    /** Reason of the first decision that wrote something: what this pass did, for events. */
    let wroteAs: string | undefined;
    let stoppedBy: Error | undefined;
    const maxRounds = this.deps.maxRounds ?? 4;
    const maxConflicts = this.deps.maxConflicts ?? 3;
    let conflicts = 0;
    try {
      if (moved && (spec.deletionPolicy ?? "Delete") === "Delete") {
        await this.cleanPreviousTarget(obj, desired, previousLabel, ctx);
      }
      for (let round = 0; round < maxRounds + conflicts; round++) {
        if (ctx.signal.aborted) break;
        // Waiting for the binding is decided from the cache alone: no APIM read until there is a rule to compare.
        const waiting = !deleting && ruleInputWaits(desired);
        const observed = waiting
          ? { target: { exists: true as const }, ...(obj.status ? { previous: obj.status } : {}) }
          : await gather(obj, this.deps.ports, fid);
        // A fingerprint recorded for another target says nothing about this one: a move is an apply, not a repair.
        if (moved && observed.previous) {
          const { appliedFingerprint: _drop, ...rest } = observed.previous;
          observed.previous = rest;
        }
        decision = decide(desired, observed);
        if (decision.actions.length === 0) break;
        ctx.log.info({ actions: decision.actions.map((a) => a.kind), round }, "applying");
        const result = await apply(decision.actions, this.deps.ports, target);
        if (result.succeeded.length > 0) wroteAs ??= readyReason(decision);
        if (result.conflict) {
          conflicts++;
          ctx.log.info({ conflicts }, "policy changed since it was read (412); reading again");
          if (conflicts > maxConflicts) {
            stoppedBy = new RetryableError(
              `the ${label} policy kept changing while being written (${conflicts} × 412)`,
            );
            break;
          }
          continue;
        }
        if (result.stoppedBy) {
          stoppedBy = result.stoppedBy;
          break;
        }
      }
    } catch (e) {
      stoppedBy = e instanceof Error ? e : new Error(String(e));
    }

    if (stoppedBy) return this.fail(obj, decision, stoppedBy, now(), deleting, ctx);
    if (!decision) return {};

    this.recordEvents(obj, decision, wroteAs, label);
    if (decision.finalize) {
      await removeFinalizer(this.deps.client, JWT_POLICY_RESOURCE, obj, FINALIZER);
      return {};
    }
    const final = decision;
    await this.writeStatus(obj, (cur) => ({
      ...final.status,
      conditions: withConditions(cur.status?.conditions, final.conditions, now()),
    }));
    if (isStalled(decision)) return { requeueAfterMs: this.deps.stalledRecheckMs ?? 300_000 };
    // Rounds ran out with writes still pending (APIM not showing what was written yet): look again soon.
    if (decision.actions.length > 0) return { requeueAfterMs: 5_000 };
    if (readyReason(decision) === "WaitingForBinding") {
      return { requeueAfterMs: this.deps.waitRecheckMs ?? 60_000 };
    }
    return {};
  }

  /**
   * The spec now names another target: take our include (or inline rule) out of the one recorded in status, so it
   * does not stay behind unowned. The fragment is kept (the new target uses it). A previous document we cannot
   * read safely (malformed) is left alone with a Warning; the move goes on.
   */
  private async cleanPreviousTarget(
    obj: ApimJwtPolicy,
    desired: Desired,
    previousLabel: string,
    ctx: ReconcileContext<ApimJwtPolicy>,
  ): Promise<void> {
    const previous = targetFromLabel(previousLabel);
    if (!previous) return;
    const spec = { ...obj.spec, target: previous, deletionPolicy: "Delete" as const };
    const where = apimTarget(spec.apimServiceId, previous);
    for (let attempt = 0; attempt <= (this.deps.maxConflicts ?? 3); attempt++) {
      const observed = await gather({ ...obj, spec }, this.deps.ports, desired.fragmentId, {
        target: previous,
        skipFragment: true,
      });
      const d = decide({ ...desired, spec, deleting: true }, observed);
      if (isStalled(d)) {
        this.deps.events.record(obj, {
          type: "Warning",
          reason: "PreviousTargetNotCleaned",
          note: d.conditions.find((c) => c.type === "Stalled")?.message ?? `cannot clean ${previousLabel}`,
        });
        return;
      }
      const writes = d.actions.filter((a) => a.kind !== "deleteFragment");
      if (writes.length === 0) return;
      ctx.log.info(
        { previous: previousLabel, actions: writes.map((a) => a.kind) },
        "cleaning previous target",
      );
      const r = await apply(writes, this.deps.ports, where);
      if (r.conflict) continue;
      if (r.stoppedBy) throw r.stoppedBy;
      this.deps.events.record(obj, {
        type: "Normal",
        reason: "Removed",
        note: `target moved: the rule was removed from ${previousLabel}`,
      });
      return;
    }
    throw new RetryableError(`the ${previousLabel} policy kept changing while the rule was removed from it`);
  }

  private recordEvents(obj: ApimJwtPolicy, d: Decision, wroteAs: string | undefined, label: string): void {
    const ev = (e: EventInput) => this.deps.events.record(obj, e);
    const ready = d.conditions.find((c) => c.type === "Ready");
    if (d.finalize) {
      if (readyReason(d) === "Orphaned")
        ev({ type: "Normal", reason: "Orphaned", note: ready?.message ?? "" });
      else if (wroteAs) ev({ type: "Normal", reason: "Removed", note: `the rule was removed from ${label}` });
      return;
    }
    if (wroteAs === "DriftRepaired") {
      this.deps.metrics?.driftRepaired(JWT_POLICY_KIND, "apim");
      ev({
        type: "Normal",
        reason: "DriftRepaired",
        note: `the rule at ${label} was changed or removed outside the operator and has been restored`,
      });
    } else if (wroteAs === "Applying" || wroteAs === "Updating") {
      const pinned = d.status.callerPrincipalId ? ` (caller pinned to ${d.status.callerPrincipalId})` : "";
      const verb = wroteAs === "Applying" ? "installed" : "updated";
      ev({ type: "Normal", reason: "Applied", note: `validate-jwt ${verb} at ${label}${pinned}` });
    }
    const stalled = d.conditions.find((c) => c.type === "Stalled" && c.status === "True");
    const before = findCondition(obj.status?.conditions, ConditionType.Stalled);
    if (stalled && !(before?.status === "True" && before.reason === stalled.reason)) {
      ev({ type: "Warning", reason: "Stalled", note: `${stalled.reason}: ${stalled.message}` });
    }
  }

  private async writeStatus(
    obj: ApimJwtPolicy,
    fn: (current: Readonly<ApimJwtPolicy>) => JwtPolicyStatus,
  ): Promise<void> {
    try {
      // A status computed from a cache that lagged behind our own last write must not overwrite it (it could
      // forget status.target, which is how a moved target gets cleaned): on a conflict, reconcile again.
      await this.deps.status.update(JWT_POLICY_RESOURCE, obj, (current) => {
        if (current.metadata.resourceVersion !== obj.metadata.resourceVersion) {
          throw new RetryableError("object changed while reconciling (stale cache); reconciling again");
        }
        return fn(current);
      });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return;
      throw e;
    }
  }

  /** An Azure failure stopped the pass: say so in status and an Event, then let the queue decide when to retry. */
  private async fail(
    obj: ApimJwtPolicy,
    decision: Decision | undefined,
    error: Error,
    now: string,
    deleting: boolean,
    ctx: ReconcileContext<ApimJwtPolicy>,
  ): Promise<ReconcileResult> {
    const f = describeFailure(error, deleting, { conflictReason: true });
    const { reason, message, needsPerson } = f;
    ctx.log.warn({ err: error, reason }, "pass stopped");
    const gen = obj.metadata.generation;
    const g = gen !== undefined ? { observedGeneration: gen } : {};
    const updates: ConditionUpdate[] = [
      { type: "Ready", status: "False", reason: deleting ? "DeletionBlocked" : reason, message, ...g },
      needsPerson
        ? { type: "Stalled", status: "True", reason, message, ...g }
        : { type: "Reconciling", status: "True", reason, message, ...g },
    ];
    const base: JwtPolicyStatus = decision?.status ?? obj.status ?? {};
    await this.writeStatus(obj, (cur) => ({
      ...base,
      conditions: withConditions(cur.status?.conditions, updates, now),
    }));
    if (f.throttledService) this.deps.metrics?.throttled(f.throttledService);
    this.deps.events.record(obj, { type: "Warning", reason: f.eventReason, note: message });
    if (needsPerson) return { requeueAfterMs: this.deps.stalledRecheckMs ?? 300_000 };
    throw new RetryableError(message, { retryAfterMs: f.retryAfterMs, cause: error });
  }
}
