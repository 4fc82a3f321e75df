/**
 * Which APIM gateways a binding's callers must go through (issue 14, docs/workflow-check.md): those of the
 * ApimJwtPolicies in its namespace whose bindingRef names it. Read from the informer cache, never from Azure; a policy
 * its namespace may not place (AzureAccessPolicy) contributes nothing, so its service is not even read.
 */
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { ObjectKey } from "../../runtime/reconciler.ts";
import type { Refusal } from "./model.ts";

/** The services (as written, first spelling wins, compared case-insensitively) of the policies referencing it. */
export function gatewayServicesOf(
  binding: Readonly<LogicAppIdentityBinding>,
  policies: readonly Readonly<ApimJwtPolicy>[],
  verdict: (p: Readonly<ApimJwtPolicy>) => Refusal | undefined = () => undefined,
): string[] {
  const ns = binding.metadata.namespace;
  const out = new Map<string, string>();
  for (const p of policies) {
    if (p.metadata.namespace !== ns || p.spec.bindingRef?.name !== binding.metadata.name) continue;
    // A policy being deleted is taking its rule out of the gateway: calls elsewhere no longer bypass it.
    if (p.metadata.deletionTimestamp !== undefined) continue;
    if (verdict(p) !== undefined) continue;
    const id = p.spec.apimServiceId;
    if (!out.has(id.toLowerCase())) out.set(id.toLowerCase(), id);
  }
  return [...out.values()];
}

/** The binding a policy names (same namespace); old and new objects are both mapped, so a removed ref wakes it too. */
export function bindingReferencedBy(policy: Readonly<ApimJwtPolicy>): ObjectKey[] {
  const name = policy.spec?.bindingRef?.name;
  return name ? [{ namespace: policy.metadata.namespace, name }] : [];
}
