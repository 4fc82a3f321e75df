/**
 * AzureAccessPolicy as a kind of the pass engine: gather reads the Namespace cache (no Azure, no API call), decide
 * computes the status, apply has nothing to do. No finalizer: the operator writes nothing anywhere for a policy,
 * so there is nothing to clean up and an administrator's delete must not wait for the operator.
 */
import type { AccessPolicyStatus, AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import { ACCESS_POLICY_RESOURCE, NAMESPACE_RESOURCE } from "../resources.ts";
import { PassReconciler, type Kind, type PassDeps } from "../shared/pass.ts";
import { decide, type PolicyAction, type PolicyObservation } from "./decide.ts";

export function accessPolicyKind(): Kind<
  AzureAccessPolicy,
  PolicyObservation,
  PolicyAction,
  AccessPolicyStatus
> {
  return {
    name: "AzureAccessPolicy",
    resource: ACCESS_POLICY_RESOURCE,
    finalizer: false,
    open: (_obj, env) => ({
      gather: () =>
        Promise.resolve({
          namespaces: env.ctx
            .cache<KubeObject>(NAMESPACE_RESOURCE)
            .list()
            .filter((ns) => ns.metadata.deletionTimestamp === undefined)
            .map((ns) => ({ name: ns.metadata.name, labels: ns.metadata.labels ?? {} })),
        }),
      decide: (policy, observed) => decide(policy, observed),
      apply: () => Promise.resolve({ results: [] }),
      report: () => ({}),
    }),
  };
}

export class AccessPolicyReconciler extends PassReconciler<
  AzureAccessPolicy,
  PolicyObservation,
  PolicyAction,
  AccessPolicyStatus
> {
  constructor(deps: PassDeps<AzureAccessPolicy>) {
    super(accessPolicyKind(), deps);
  }
}
