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
