/**
 * ApimJwtPolicy as a kind of the pass engine: the referenced binding read from the manager's cache (no API call),
 * then gather → decide → apply against the target's policy document. When the spec moved to another target, the
 * prelude first takes our include (or inline rule) out of the one recorded in status, so it does not stay behind
 * unowned; the fragment is kept (the new target uses it).
 */
import { createHash } from "node:crypto";
import {
  JWT_POLICY_KIND,
  type ApimJwtPolicy,
  type JwtPolicyStatus,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
// Legacy ids until the JWT ownership wiring migrates fragments (ADR 0014).
import { legacyFragmentId as fragmentIdOf } from "../../azure/naming.ts";
import type { CallOptions } from "../../azure/ports.ts";
import { BINDING_RESOURCE, JWT_POLICY_RESOURCE } from "../resources.ts";
import type { Kind } from "../shared/pass.ts";
import type { TenancyFence } from "../tenancy/fence.ts";
import { runRounds, type PassHooks, type Report } from "../shared/rounds.ts";
import { apply } from "./apply.ts";
import { decide, ruleInput, targetLabel, type Action, type Desired, type Observed } from "./decide.ts";
import { apimTarget, bindingFacts, gather, targetFromLabel, type JwtPolicyPorts } from "./gather.ts";

/** status.appliedFingerprint: SHA-256 (hex) of the rule as rendered without base indentation. */
export function fingerprint(rule: string): string {
  return createHash("sha256").update(rule, "utf8").digest("hex");
}

export interface JwtPolicyKindOptions {
  ports: JwtPolicyPorts;
  /** The AzureAccessPolicy fence: a refused service or target is not read nor written (guard in PassDeps). */
  tenancy?: TenancyFence;
  /** Re-check while waiting for the binding (its watch also wakes us). Default 1 min. */
  waitRecheckMs?: number;
  /** 412 re-reads when cleaning a previous target. Default 3. */
  maxConflicts?: number;
}

type JwtHooks = PassHooks<ApimJwtPolicy, Observed, Action, JwtPolicyStatus>;
type BindingLookup = (namespace: string, name: string) => Readonly<LogicAppIdentityBinding> | undefined;

export function jwtPolicyKind(
  options: JwtPolicyKindOptions,
): Kind<ApimJwtPolicy, Observed, Action, JwtPolicyStatus> {
  return {
    name: JWT_POLICY_KIND,
    resource: JWT_POLICY_RESOURCE,
    open: (obj, env) =>
      jwtPolicyPass(obj, options, env.call, (namespace, name) =>
        env.ctx.cache<LogicAppIdentityBinding>(BINDING_RESOURCE).get({ namespace, name }),
      ),
  };
}

/** What the policy wants, with the binding it references resolved from the cache. */
export function desiredOf(policy: Readonly<ApimJwtPolicy>, lookup: BindingLookup): Desired {
  const ns = policy.metadata.namespace ?? "";
  const deleting = policy.metadata.deletionTimestamp !== undefined;
  const bindingName = policy.spec.bindingRef?.name;
  const binding = bindingName && !deleting ? bindingFacts(bindingName, lookup(ns, bindingName)) : undefined;
  return {
    namespace: ns,
    name: policy.metadata.name,
    ...(policy.metadata.generation !== undefined ? { generation: policy.metadata.generation } : {}),
    spec: policy.spec,
    fragmentId: fragmentIdOf(ns, policy.metadata.name),
    ...(binding ? { binding } : {}),
    ...(deleting ? { deleting: true } : {}),
  };
}

export function jwtPolicyPass(
  policy: Readonly<ApimJwtPolicy>,
  options: JwtPolicyKindOptions,
  call: CallOptions,
  lookup: BindingLookup,
): JwtHooks {
  const { ports } = options;
  const desired = desiredOf(policy, lookup);
  const target = apimTarget(policy.spec.apimServiceId, policy.spec.target);
  const previousLabel = policy.status?.target;
  const moved = previousLabel !== undefined && previousLabel !== targetLabel(policy.spec.target);
  const waits = () => {
    const r = ruleInput(desired);
    return !desired.deleting && !r.ok && r.wait;
  };
  return {
    ...(moved && (policy.spec.deletionPolicy ?? "Delete") === "Delete"
      ? { prelude: () => cleanPreviousTarget(policy, desired, previousLabel, options, call) }
      : {}),
    gather: async (obj) => {
      const refusal = desired.deleting ? undefined : options.tenancy?.jwtPolicyVerdict(obj);
      if (refusal) return { ...(obj.status ? { previous: obj.status } : {}), tenancy: refusal };
      // Waiting for the binding is decided from the cache alone: no APIM read until there is a rule to compare.
      if (waits()) return obj.status ? { previous: obj.status } : {};
      const observed = await gather(obj, ports, desired.fragmentId, {}, call);
      // A fingerprint recorded for another target says nothing about this one: a move is an apply, not a repair.
      if (moved && observed.previous) {
        const { appliedFingerprint: _drop, ...rest } = observed.previous;
        observed.previous = rest;
      }
      return observed;
    },
    decide: (_obj, observed) =>
      decide(desired, observed, {
        hash: fingerprint,
        ...(options.waitRecheckMs !== undefined ? { waitRecheckMs: options.waitRecheckMs } : {}),
      }),
    apply: (actions) => apply(actions, ports, target, call),
    // The Events say what a round's writes meant (decide's onWrite), not one per APIM request.
    report: () => ({}),
  };
}

/**
 * The spec now names another target: remove our part from the one recorded in status. A previous document we
 * cannot read safely (malformed) is left alone with a Warning; the move goes on.
 */
async function cleanPreviousTarget(
  policy: Readonly<ApimJwtPolicy>,
  desired: Desired,
  previousLabel: string,
  options: JwtPolicyKindOptions,
  call: CallOptions,
): Promise<Report[]> {
  const previous = targetFromLabel(previousLabel);
  if (!previous) return [];
  const spec = { ...policy.spec, target: previous, deletionPolicy: "Delete" as const };
  const where = apimTarget(spec.apimServiceId, previous);
  const hooks: JwtHooks = {
    gather: () =>
      gather(
        { ...policy, spec },
        options.ports,
        desired.fragmentId,
        { target: previous, skipFragment: true },
        call,
      ),
    decide: (_obj, observed) => {
      const d = decide({ ...desired, spec, deleting: true }, observed, { hash: fingerprint });
      if (d.stalled) {
        const why =
          d.conditions.find((c) => c.type === "Stalled")?.message ?? `cannot clean ${previousLabel}`;
        return {
          ...d,
          actions: [],
          findings: [{ event: { type: "Warning", reason: "PreviousTargetNotCleaned", note: why } }],
        };
      }
      return {
        ...d,
        // The fragment stays: the new target includes it.
        actions: d.actions.filter((a) => a.type !== "deleteFragment"),
        onWrite: {
          event: {
            type: "Normal",
            reason: "Removed",
            note: `target moved: the rule was removed from ${previousLabel}`,
          },
        },
      };
    },
    apply: (actions) => apply(actions, options.ports, where, call),
    report: () => ({}),
  };
  const r = await runRounds(hooks, policy, {
    now: () => "",
    maxRounds: 2,
    ...(options.maxConflicts !== undefined ? { maxConflicts: options.maxConflicts } : {}),
    ...(call.signal ? { signal: call.signal } : {}),
  });
  if (r.stoppedBy) throw r.stoppedBy;
  return r.reports;
}
