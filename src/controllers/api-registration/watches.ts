/** Who depends on whom between registrations and bindings: the keys a change of one enqueues for the other. */
import type { ApiRegistration, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { ObjectKey } from "../../runtime/reconciler.ts";

/** Bindings in the registration's namespace that reference it by apiRegistrationRef. */
export function bindingsReferencing(
  reg: Readonly<ApiRegistration>,
  bindings: { list(namespace?: string): readonly Readonly<LogicAppIdentityBinding>[] },
): ObjectKey[] {
  const ns = reg.metadata.namespace;
  return bindings
    .list(ns)
    .filter(
      (b) =>
        b.metadata.namespace === ns &&
        (b.spec.appRoleAssignments ?? []).some((a) => a.apiRegistrationRef?.name === reg.metadata.name),
    )
    .map((b) => ({ namespace: b.metadata.namespace, name: b.metadata.name }));
}

/**
 * Bindings whose grants an ApimJwtPolicy reads this registration for (jwt-policy/gather.ts `registeredApis`): by
 * reference (same namespace), or an `api` naming the registration's appId or one of its identifier URIs as its status
 * gives them (any namespace: a grant by appId or URI is not namespaced). A registration whose token version or appId
 * moves must wake the policies of all of them; mapping only references left a policy following the registration by
 * URI on its old audience until its resync (hours). Called with the old and the new registration on an update.
 */
export function bindingsNamingRegistration(
  reg: Readonly<ApiRegistration>,
  bindings: { list(namespace?: string): readonly Readonly<LogicAppIdentityBinding>[] },
): ObjectKey[] {
  const appId = reg.status?.appId?.toLowerCase();
  const uris = new Set(reg.status?.identifierUris ?? []);
  const byName = (api: string | undefined) =>
    api !== undefined && ((appId !== undefined && api.toLowerCase() === appId) || uris.has(api));
  if (appId === undefined && uris.size === 0) return bindingsReferencing(reg, bindings);
  const ns = reg.metadata.namespace;
  return bindings
    .list()
    .filter((b) =>
      (b.spec.appRoleAssignments ?? []).some(
        (a) =>
          (b.metadata.namespace === ns && a.apiRegistrationRef?.name === reg.metadata.name) || byName(a.api),
      ),
    )
    .map((b) => ({ namespace: b.metadata.namespace, name: b.metadata.name }));
}

/**
 * Registrations a binding references (same namespace). A grant by appId or URI is not mapped here: the Delete check
 * reads every binding from the cache when the registration is reconciled, and a refused Delete re-checks.
 */
export function registrationsReferencedBy(binding: Readonly<LogicAppIdentityBinding>): ObjectKey[] {
  const names = new Set(
    (binding.spec?.appRoleAssignments ?? []).flatMap((a) =>
      a.apiRegistrationRef ? [a.apiRegistrationRef.name] : [],
    ),
  );
  return [...names].map((name) => ({ namespace: binding.metadata.namespace, name }));
}
