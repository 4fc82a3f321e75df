/**
 * One binding pass without Kubernetes: gather → decide → apply, repeated a few rounds so a pass converges (an
 * identity enabled in round 1 is granted in round 2), the last round only observing so the result describes Azure
 * after the writes. The reconciler wraps it with finalizers, status and events; the benchmarks, and later the
 * standalone mode and `plan`, call it directly.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { apply, type AppliedEvent } from "./apply.ts";
import { decide, type BindingDecision, type BindingEvent } from "./decide.ts";
import { gather, type BindingPorts } from "./gather.ts";
import type { ApplyFailure, BindingAction } from "./model.ts";

export interface ConvergeOptions {
  now: () => string;
  replicationPollMs?: number;
  /** Gather/decide rounds (each but the last may apply). Default 5. */
  maxRounds?: number;
  signal?: AbortSignal;
  /** Observes each write round (logging). */
  onApply?: (writes: BindingAction[], round: number) => void;
  /**
   * Called before a round's writes with the status that records their intent; the reconciler persists it so a
   * Graph assignment created by a pass whose final status write fails is still known as ours. A throw aborts
   * the pass before anything is written.
   */
  beforeWrites?: (decision: BindingDecision) => Promise<void>;
}

export interface ConvergeResult {
  /** The last decision: its status describes Azure as last observed. Undefined if the first gather failed. */
  decision: BindingDecision | undefined;
  /** What decide found along the way (heals, stalls), de-duplicated. */
  findings: BindingEvent[];
  /** One per successful write. */
  applied: AppliedEvent[];
  succeeded: BindingAction[];
  /** The error that stopped the pass, if any. */
  stoppedBy?: Error;
}

export async function converge(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  options: ConvergeOptions,
): Promise<ConvergeResult> {
  const maxRounds = options.maxRounds ?? 5;
  const result: ConvergeResult = { decision: undefined, findings: [], applied: [], succeeded: [] };
  let applyFailures: Record<string, ApplyFailure> = {};
  const created: string[] = [];
  let working = binding;
  // An API's service principal and app roles do not change within a pass: look each up once, not once a round.
  const spCache = new Map<string, ReturnType<BindingPorts["graph"]["findServicePrincipal"]>>();
  const passPorts: BindingPorts = {
    ...ports,
    // Explicit delegation: adapters are class instances, whose methods an object spread would not copy.
    graph: {
      listAppRoleAssignedTo: (id) => ports.graph.listAppRoleAssignedTo(id),
      createAppRoleAssignment: (r, p, a) => ports.graph.createAppRoleAssignment(r, p, a),
      deleteAppRoleAssignment: (r, id) => ports.graph.deleteAppRoleAssignment(r, id),
      findServicePrincipal: (api) => {
        let found = spCache.get(api);
        if (!found) {
          found = ports.graph.findServicePrincipal(api);
          spCache.set(api, found);
          found.catch(() => spCache.delete(api));
        }
        return found;
      },
    },
  };
  try {
    for (let round = 0; round < maxRounds; round++) {
      if (options.signal?.aborted) break;
      const observed = await gather(working, passPorts, {
        applyFailures,
        createdAppRoleAssignmentIds: created,
      });
      const decision = decide(working, observed, {
        now: options.now(),
        replicationPollMs: options.replicationPollMs,
      });
      result.decision = decision;
      for (const e of decision.events) {
        if (!result.findings.some((f) => f.reason === e.reason && f.note === e.note)) result.findings.push(e);
      }
      const writes = decision.actions.filter((a) => a.type !== "removeFinalizer");
      if (writes.length === 0 || round === maxRounds - 1) break;
      options.onApply?.(writes, round);
      if (options.beforeWrites && writes.some((a) => a.type === "createAppRoleAssignment")) {
        await options.beforeWrites(decision);
      }
      const applied = await apply(writes, passPorts, binding.spec.logicAppId);
      result.applied.push(...applied.events);
      result.succeeded.push(...applied.succeeded);
      applyFailures = { ...applyFailures, ...applied.failures };
      created.push(...applied.createdAppRoleAssignmentIds);
      if (applied.stoppedBy) {
        result.stoppedBy = applied.stoppedBy;
        break;
      }
      // The next round decides from what this round established (e.g. that this binding turned the identity
      // on), as a later pass would read it back from status.
      working = { ...working, status: decision.status };
    }
  } catch (e) {
    result.stoppedBy = e instanceof Error ? e : new Error(String(e));
  }
  return result;
}
