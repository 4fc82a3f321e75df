/**
 * The rounds of one pass, for every kind and without Kubernetes: gather → decide → authorize → apply, repeated so
 * a pass converges (an identity enabled in round 1 is granted in round 2), the last round only observing so the
 * result describes Azure after the writes. A kind supplies the hooks; this module owns the loop, the round limit,
 * the 412 re-read budget, cancellation and the guard between decide and apply. `PassReconciler` (./pass.ts) wraps
 * it with the finalizer, status and events; the benchmark, `plan` and the standalone mode call it directly.
 */
import { applyConditions, type Condition, type ConditionInput } from "../../api/v1alpha1/conditions.ts";
import type { AzureError } from "../../azure/errors.ts";

/** Every kind's write, tagged the same way. */
export interface PassAction {
  type: string;
}

export interface PassEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

/** A counter the engine increments (bounded labels: facet is rbac/graph/identity/apim). */
export interface PassMetric {
  name: "healed" | "driftRepaired" | "workflowMismatch";
  facet: string;
}

/** What is worth telling a person about a fact: an Event, a metric, or both. */
export interface Report {
  event?: PassEvent;
  metric?: PassMetric;
}

/** What decide returns, for every kind. Pure data: the engine stamps times, writes status and emits events. */
export interface Decision<A extends PassAction, S> {
  /** Azure writes, in order. */
  actions: A[];
  /** The status to record, without conditions (the engine stamps those). */
  status: S;
  conditions: ConditionInput[];
  /** Condition types that no longer apply. */
  dropConditions?: string[];
  /** Deletion only: nothing is left in Azure, the finalizer may go. */
  finalize: boolean;
  /** The object's own problem needs a person (Stalled): slow re-check instead of polling. */
  stalled: boolean;
  /**
   * Stalled only because an AzureAccessPolicy refuses it: a person lifts that by changing a policy, a namespace's
   * labels or the spec, and each of those enqueues the object (tenancy watches, its own watch) — so no timed
   * re-check for it.
   */
  stalledOnPolicy?: boolean;
  /** What this decision found (a heal, a conflict), reported once per pass. */
  findings: Report[];
  /** What this decision's writes mean once at least one of them took effect, reported once per pass. */
  onWrite?: Report;
  /** Look again sooner than the resync (waiting on Azure or on another object). */
  requeueAfterMs?: number;
}

/** One action's typed result; the kind's `report` turns it into an Event and a metric. */
export interface ActionResult<A extends PassAction> {
  action: A;
  /** done: took effect; adopted: someone else's equal object is there; deferred: decide will see why next round. */
  outcome: "done" | "adopted" | "deferred";
  /** What Azure reported back, for the Event (e.g. the new principal). */
  detail?: string;
}

export interface Applied<A extends PassAction> {
  results: ActionResult<A>[];
  /** A 412 on a shared document: read again and decide again (bounded by maxConflicts). */
  conflict?: AzureError;
  /** What stopped the round (throttled, transient, forbidden...). */
  stoppedBy?: Error;
}

/** A denied write: it never reaches apply, and the object says why (Stalled, reason, Warning Event). */
export interface Denial<A extends PassAction> {
  action: A;
  /** CamelCase, e.g. NotAllowed. */
  reason: string;
  message: string;
}

/**
 * The step between decide and apply (namespace guardrails, tenancy policy): which of decide's writes may go to
 * Azure. Pure or cached; it must not write anything.
 */
export type Guard<T> = <X extends PassAction>(
  obj: Readonly<T>,
  actions: readonly X[],
) => { allowed: X[]; denied: Denial<X>[] };

/** Every kind's status carries conditions; the rest is the kind's own. */
export interface StatusBase {
  conditions?: Condition[];
}

/** The status a decision describes, conditions stamped against those the object held before it. */
export function statusOf<S extends StatusBase>(
  previous: readonly Condition[] | undefined,
  decision: Pick<Decision<PassAction, S>, "status" | "conditions" | "dropConditions">,
  now: string,
): S {
  return {
    ...decision.status,
    conditions: applyConditions(previous, decision.conditions, now, decision.dropConditions),
  };
}

/** One kind's pass. Built per pass (`Kind.open`), so per-pass caches and carried state live in the closure. */
export interface PassHooks<T extends { status?: S }, O, A extends PassAction, S extends StatusBase> {
  /** Before the rounds (e.g. clean up where a moved spec used to point). Returns what to report. */
  prelude?(): Promise<Report[]>;
  gather(obj: Readonly<T>): Promise<O>;
  decide(obj: Readonly<T>, observed: O, now: string): Decision<A, S>;
  apply(actions: readonly A[]): Promise<Applied<A>>;
  report(result: ActionResult<A>): Report;
  /**
   * Whether the next round decides from the status this round established, as a later pass would read it back
   * (e.g. that this binding turned the identity on). Default: every round decides from the object as read.
   */
  carryStatus?: boolean;
  /** Whether these writes need their intent persisted first (status, ownership records); default: never. */
  needsWriteAhead?(writes: readonly A[]): boolean;
  /**
   * Deletion is done (decide said finalize) and the finalizer is about to go: the kind's last cleanup outside
   * Azure (its ownership record and claims). A throw keeps the finalizer and retries.
   */
  finalized?(): Promise<void>;
  /** The pass is over, however it ended: release what the kind kept for it. Called once, by whoever opened it. */
  closed?(): void;
}

export interface RoundsOptions<T, A extends PassAction, S extends StatusBase> {
  now: () => string;
  /** Rounds per pass; the last only observes. Default 5. */
  maxRounds?: number;
  /** 412 re-reads per pass, on top of maxRounds. Default 3. */
  maxConflicts?: number;
  signal?: AbortSignal;
  guard?: Guard<T>;
  /**
   * Write-ahead: called before each round's writes (the engine persists intent: status when `needsWriteAhead`
   * says so, ownership records always). A throw stops the pass before any write.
   */
  beforeWrites?: (decision: Decision<A, S>, writes: readonly A[]) => Promise<void>;
  onRound?: (writes: readonly A[], round: number) => void;
}

export interface RoundsResult<A extends PassAction, S extends StatusBase> {
  /** The last decision (describes Azure as last observed); undefined if the first gather failed. */
  decision: Decision<A, S> | undefined;
  /** Everything to report, de-duplicated, in order. */
  reports: Report[];
  /** The last decision's status, conditions stamped (what a standalone caller records). */
  status: S | undefined;
  /** Writes the guard refused (last round's denials, de-duplicated by type). */
  denied: Denial<A>[];
  /** Writes that took effect. */
  succeeded: A[];
  stoppedBy?: Error;
}

/**
 * When to look at an object again after a pass that ended without an error; undefined: at the resync. The engine
 * (./pass.ts) and the benchmark's simulated operator both ask this, so the two cannot disagree about a pass that
 * ran out of rounds (the simulator once waited 6 h for those, and left keys behind at 5,000 bindings).
 */
export function recheckAfterMs(
  decision: Pick<Decision<PassAction, unknown>, "stalled" | "stalledOnPolicy" | "requeueAfterMs" | "actions">,
  options: { stalledRecheckMs?: number; pendingRecheckMs?: number } = {},
): number | undefined {
  if (decision.stalled && !decision.stalledOnPolicy) return options.stalledRecheckMs ?? 300_000;
  if (decision.requeueAfterMs !== undefined) return decision.requeueAfterMs;
  // Rounds ran out with writes Azure does not show yet: look again soon rather than at the resync.
  if (decision.actions.length > 0) return options.pendingRecheckMs ?? 5_000;
  return undefined;
}

export async function runRounds<T extends { status?: S }, O, A extends PassAction, S extends StatusBase>(
  hooks: PassHooks<T, O, A, S>,
  obj: T,
  options: RoundsOptions<T, A, S>,
): Promise<RoundsResult<A, S>> {
  const maxRounds = options.maxRounds ?? 5;
  const maxConflicts = options.maxConflicts ?? 3;
  const result: RoundsResult<A, S> = {
    decision: undefined,
    status: undefined,
    reports: [],
    denied: [],
    succeeded: [],
  };
  const seen = new Set<string>();
  const add = (r: Report | undefined) => {
    if (!r || (!r.event && !r.metric)) return;
    const k = JSON.stringify(r);
    if (seen.has(k)) return;
    seen.add(k);
    result.reports.push(r);
  };
  let working = obj;
  let conflicts = 0;
  try {
    if (hooks.prelude) for (const r of await hooks.prelude()) add(r);
    for (let round = 0; round < maxRounds + conflicts; round++) {
      if (options.signal?.aborted) break;
      const observed = await hooks.gather(working);
      const decision = hooks.decide(working, observed, options.now());
      result.decision = decision;
      for (const f of decision.findings) add(f);
      if (decision.actions.length === 0 || round === maxRounds + conflicts - 1) break;
      const verdict = options.guard
        ? options.guard(working, decision.actions)
        : { allowed: decision.actions, denied: [] };
      result.denied = verdict.denied;
      const writes = verdict.allowed;
      if (writes.length === 0) break;
      options.onRound?.(writes, round);
      if (options.beforeWrites) await options.beforeWrites(decision, writes);
      const applied = await hooks.apply(writes);
      for (const r of applied.results) {
        if (r.outcome !== "deferred") result.succeeded.push(r.action);
        add(hooks.report(r));
      }
      if (applied.results.some((r) => r.outcome === "done")) add(decision.onWrite);
      if (applied.conflict) {
        if (++conflicts > maxConflicts) {
          result.stoppedBy = applied.conflict;
          break;
        }
        continue;
      }
      if (applied.stoppedBy) {
        result.stoppedBy = applied.stoppedBy;
        break;
      }
      if (hooks.carryStatus) {
        const status = statusOf(working.status?.conditions, decision, options.now());
        working = { ...working, status } as T;
      }
    }
  } catch (e) {
    result.stoppedBy = e instanceof Error ? e : new Error(String(e));
  }
  if (result.decision) result.status = statusOf(working.status?.conditions, result.decision, options.now());
  return result;
}
