/**
 * Policies and namespace labels change what an object may do: the objects they concern are reconciled at once,
 * not at the next resync. The controller maps the old and the new version of a changed object, so a namespace a
 * policy stops selecting is reconciled as well as one it starts selecting.
 */
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { CacheReader, ObjectKey } from "../../runtime/reconciler.ts";
import { selectsNamespace } from "./authorize.ts";

const keyOf = (o: Readonly<KubeObject>): ObjectKey => ({
  namespace: o.metadata.namespace,
  name: o.metadata.name,
});

/** Objects in the namespaces a policy (this version of it) selects. */
export function objectsSelectedBy(
  policy: Readonly<AzureAccessPolicy>,
  primary: CacheReader,
  namespaces: CacheReader,
): ObjectKey[] {
  const selection = policy.spec?.namespaces;
  if (!selection) return [];
  return primary
    .list()
    .filter((o) => {
      const name = o.metadata.namespace ?? "";
      const labels = namespaces.get(name)?.metadata.labels ?? {};
      return selectsNamespace(selection, { name, labels });
    })
    .map(keyOf);
}

/** Objects in a namespace whose labels (or existence) changed. */
export function objectsInNamespace(ns: Readonly<KubeObject>, primary: CacheReader): ObjectKey[] {
  return primary.list(ns.metadata.name).map(keyOf);
}
