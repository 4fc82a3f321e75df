/**
 * The index keys that connect what the inventory sees change to the bindings that must look again. Pure: a binding
 * (spec and status) → the Azure things it depends on; an inventory change → the same kind of keys. The runtime's
 * KeyIndex (src/runtime/key-index.ts) keeps the binding side current from the informer cache, knowing nothing of Azure.
 */
import { appRoleGrants, canonicalLogicAppId } from "../../api/v1alpha1/binding.ts";
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { fragmentId } from "../naming.ts";
import { apimFragmentRef, apimLabelRef, apimTargetRef } from "./apim.ts";
import type { InventoryChange } from "./inventory.ts";

export { apimFragmentRef, apimTargetRef };

/**
 * A Logic App's key is its canonical ID, unprefixed (no other key starts with "/"): the claim index the binding
 * pass reads (controllers/binding/peers.ts) is this same index, so each binding's Logic App is one string in one
 * index, not one per index (≈ 200 bytes per binding, docs/benchmarks.md).
 */
const logicApp = (id: string) => canonicalLogicAppId(id);
const principal = (id: string) => `principal:${id.toLowerCase()}`;
const api = (name: string) => `api:${name}`;

/**
 * The document at its target (now and, while a move is being cleaned up, the one status still names) and its own
 * fragment. A fragment or include edited in APIM enqueues exactly the policies these name.
 */
export function jwtPolicyDependsOn(policy: Readonly<ApimJwtPolicy>): string[] {
  const svc = policy.spec.apimServiceId;
  const out = new Set<string>([apimTargetRef({ serviceId: svc, ...(policy.spec.target ?? {}) })]);
  if (policy.status?.target) out.add(apimLabelRef(svc, policy.status.target));
  const { namespace, name, uid } = policy.metadata;
  if (namespace && name && uid) out.add(apimFragmentRef(svc, fragmentId(namespace, name, uid)));
  if (policy.status?.fragmentId) out.add(apimFragmentRef(svc, policy.status.fragmentId));
  return [...out];
}

/** Its Logic App, every principal its status records (current, pre-heal, grant holders) and its APIs. */
export function bindingDependsOn(binding: Readonly<LogicAppIdentityBinding>): string[] {
  const out = new Set<string>([logicApp(binding.spec.logicAppId)]);
  const s = binding.status;
  if (s?.principalId) out.add(principal(s.principalId));
  if (s?.lastHeal?.previousPrincipalId) out.add(principal(s.lastHeal.previousPrincipalId));
  for (const e of [...(s?.roleAssignments ?? []), ...(s?.appRoleAssignments ?? [])])
    if (e.principalId) out.add(principal(e.principalId));
  for (const a of appRoleGrants(binding.spec)) out.add(api(a.api));
  return [...out];
}

/**
 * A Logic App change concerns its app and the principals it had or has; a grant that appeared or went concerns its
 * principal (the scope alone would wake every binding granted there); a service principal change, its API.
 */
export function changeRefs(change: InventoryChange): string[] {
  switch (change.kind) {
    case "logicApp":
      return [logicApp(change.id), ...change.principalIds.map(principal)];
    case "roleAssignment":
    case "appRoleAssignment":
      return [principal(change.principalId)];
    case "servicePrincipal":
      return [api(change.api)];
    case "apim":
      return [change.ref];
  }
}
