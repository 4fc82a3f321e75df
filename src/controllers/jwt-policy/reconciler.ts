/**
 * ApimJwtPolicy reconciler: the policy kind (./kind.ts) on the pass engine (../shared/pass.ts), which owns the
 * finalizer, the rounds (a 412 on the shared document is a re-read, a bounded number of times), status, Events,
 * metrics and the work-queue outcome.
 */
import type { ApimJwtPolicy, JwtPolicyStatus, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { ObjectKey } from "../../runtime/reconciler.ts";
import { JWT_POLICY_RESOURCE } from "../resources.ts";
import { PassReconciler, type PassDeps } from "../shared/pass.ts";
import type { Action, Observed } from "./decide.ts";
import { jwtPolicyKind, type JwtPolicyKindOptions } from "./kind.ts";

export { JWT_POLICY_RESOURCE };

export type JwtPolicyReconcilerDeps = JwtPolicyKindOptions & PassDeps<ApimJwtPolicy>;

export class JwtPolicyReconciler extends PassReconciler<ApimJwtPolicy, Observed, Action, JwtPolicyStatus> {
  constructor(deps: JwtPolicyReconcilerDeps) {
    // Four rounds: apply, observe, and room for one more write after a 412 re-read (which adds its own).
    super(jwtPolicyKind(deps), { maxRounds: 4, ...deps });
  }
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
