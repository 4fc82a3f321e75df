/**
 * LogicAppIdentityBinding reconciler: the path of one pass.
 *   cache object → finalizer (before any Azure write) → gather (ports, read-only) → decide (pure) → apply (ports)
 *   → repeat gather/decide/apply a few rounds so one pass converges (an identity enabled in round 1 is granted in
 *   round 2) → status written only if it changed → events → finalizer released when decide says so.
 * Azure errors become work-queue outcomes: throttling waits for Retry-After, transient errors back off, and what
 * needs a person (access denied, invalid request) is a Stalled condition plus a slow re-check.
 */
import { BINDING_RESOURCE } from "../resources.ts";
import {
  BINDING_KIND,
  ConditionType,
  FINALIZER,
  rfc3339,
  setCondition,
  type BindingStatus,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import type { EventSink } from "../../runtime/events.ts";
import { ensureFinalizer, removeFinalizer } from "../../runtime/finalizers.ts";
import type { KubeClient } from "../../runtime/client.ts";
import type { OperatorMetrics } from "../../runtime/metrics.ts";
import {
  RetryableError,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
} from "../../runtime/reconciler.ts";
import type { StatusWriter } from "../../runtime/status.ts";
import { describeFailure } from "../shared/pass-failure.ts";
import { converge } from "./converge.ts";
import type { BindingDecision } from "./decide.ts";
import type { BindingPorts } from "./gather.ts";

export { BINDING_RESOURCE };

export interface BindingReconcilerDeps {
  ports: BindingPorts;
  client: KubeClient;
  status: StatusWriter;
  events: EventSink;
  metrics?: OperatorMetrics;
  /** Poll while waiting for replication or a fresh identity. Default 5 s. */
  replicationPollMs?: number;
  /** Re-check of something a person must fix (access denied). Default 5 min. */
  stalledRecheckMs?: number;
  /** Gather/decide rounds per pass (each but the last may apply). Default 5. */
  maxRounds?: number;
}

export class BindingReconciler implements Reconciler<LogicAppIdentityBinding> {
  private readonly deps: BindingReconcilerDeps;

  constructor(deps: BindingReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(_key: ObjectKey, ctx: ReconcileContext<LogicAppIdentityBinding>): Promise<ReconcileResult> {
    const cached = ctx.object();
    if (!cached) return {}; // gone: its finalizer already ran
    let obj = structuredClone(cached) as LogicAppIdentityBinding;
    const deleting = obj.metadata.deletionTimestamp !== undefined;
    if (deleting && !(obj.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    if (!deleting) {
      // Before the first Azure write, so a crash can never leak a grant without a way to revoke it.
      const written = await ensureFinalizer(this.deps.client, BINDING_RESOURCE, obj, FINALIZER);
      if (!written) return {};
      obj = written;
    }

    // Read before the pass: an intermediate status write (beforeWrites) replaces `obj`.
    const healBefore = obj.status?.lastHeal?.time;
    const now = () => rfc3339(new Date(ctx.clock.now()));
    const pass = await converge(obj, this.deps.ports, {
      now,
      replicationPollMs: this.deps.replicationPollMs,
      maxRounds: this.deps.maxRounds,
      signal: ctx.signal,
      onApply: (writes, round) => ctx.log.info({ actions: writes.map((a) => a.type), round }, "applying"),
      beforeWrites: async (d) => {
        const written = await this.writeStatus(obj, d.status);
        if (written) obj = written;
      },
    });
    for (const e of pass.applied) this.deps.events.record(obj, e);
    for (const a of pass.succeeded) {
      if ((a.type === "createRoleAssignment" || a.type === "createAppRoleAssignment") && a.driftRepair) {
        this.deps.metrics?.driftRepaired(BINDING_KIND, a.type === "createRoleAssignment" ? "rbac" : "graph");
      }
      if (a.type === "setIdentity" && a.why === "driftRepair")
        this.deps.metrics?.driftRepaired(BINDING_KIND, "identity");
      if (a.type === "deleteRoleAssignment" && a.why === "orphaned")
        this.deps.metrics?.healed(BINDING_KIND, "rbac");
      if (a.type === "deleteAppRoleAssignment" && a.why === "orphaned")
        this.deps.metrics?.healed(BINDING_KIND, "graph");
    }
    const { decision, stoppedBy, findings } = pass;
    if (stoppedBy) return this.fail(obj, decision, stoppedBy, now(), deleting);
    if (!decision) return {};

    for (const e of findings) this.deps.events.record(obj, e);
    if (findings.some((e) => e.reason === "IdentityRecreated"))
      this.deps.metrics?.healed(BINDING_KIND, "identity");
    if (decision.status.lastHeal && decision.status.lastHeal.time !== healBefore) {
      this.deps.events.record(obj, {
        type: "Normal",
        reason: "Healed",
        note: `grants moved from ${decision.status.lastHeal.previousPrincipalId} to ${decision.status.lastHeal.principalId}`,
      });
    }
    const finalStatus = decision.status;
    const current = await this.writeStatus(obj, finalStatus);
    if (decision.actions.some((a) => a.type === "removeFinalizer")) {
      await removeFinalizer(this.deps.client, BINDING_RESOURCE, current ?? obj, FINALIZER);
      return {};
    }
    if (decision.stalled) return { requeueAfterMs: this.deps.stalledRecheckMs ?? 300_000 };
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  private async writeStatus(
    obj: LogicAppIdentityBinding,
    status: BindingStatus,
  ): Promise<LogicAppIdentityBinding | undefined> {
    try {
      // Status computed from a cache that lagged behind our own last write must not overwrite that write
      // (it would forget ownership it recorded): on a conflict, reconcile again from a fresh read.
      const r = await this.deps.status.update(BINDING_RESOURCE, obj, (current) => {
        if (current.metadata.resourceVersion !== obj.metadata.resourceVersion) {
          throw new RetryableError("object changed while reconciling (stale cache); reconciling again");
        }
        return status;
      });
      return r.object;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  /** An Azure failure stopped the pass: say so in status (and an Event), then let the queue decide when to retry. */
  private async fail(
    obj: LogicAppIdentityBinding,
    decision: BindingDecision | undefined,
    error: Error,
    now: string,
    deleting: boolean,
  ): Promise<ReconcileResult> {
    const f = describeFailure(error, deleting);
    const { reason, message, needsPerson } = f;
    const base = decision?.status ?? obj.status ?? {};
    let conditions = base.conditions ?? [];
    const gen = obj.metadata.generation;
    conditions = setCondition(
      conditions,
      {
        type: ConditionType.Ready,
        status: "False",
        reason: deleting ? "DeletionBlocked" : reason,
        message,
        observedGeneration: gen,
      },
      now,
    );
    conditions = setCondition(
      conditions,
      needsPerson
        ? { type: ConditionType.Stalled, status: "True", reason, message, observedGeneration: gen }
        : { type: ConditionType.Reconciling, status: "True", reason, message, observedGeneration: gen },
      now,
    );
    await this.writeStatus(obj, { ...base, conditions });
    if (f.throttledService) this.deps.metrics?.throttled(f.throttledService);
    this.deps.events.record(obj, { type: "Warning", reason: f.eventReason, note: message });
    if (needsPerson) return { requeueAfterMs: this.deps.stalledRecheckMs ?? 300_000 };
    throw new RetryableError(message, { retryAfterMs: f.retryAfterMs, cause: error });
  }
}
