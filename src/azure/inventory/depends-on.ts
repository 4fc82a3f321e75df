/**
 * The index keys that connect what the inventory sees change to the bindings that must look again. Pure: a binding
 * (spec and status) → the Azure things it depends on; an inventory change → the same kind of keys. The runtime's
 * KeyIndex (src/runtime/key-index.ts) keeps the binding side current from the informer cache, knowing nothing of Azure.
 */
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { InventoryChange } from "./inventory.ts";

const logicApp = (id: string) => `logicApp:${id.toLowerCase()}`;
const principal = (id: string) => `principal:${id.toLowerCase()}`;
const api = (name: string) => `api:${name}`;

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
  }
}
