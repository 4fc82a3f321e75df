/**
 * AzureAccessPolicy objects for the cluster suites. The operator runs with tenancy enforced (the default), so a
 * suite that is not about tenancy creates one policy allowing what its seeded scenario does: the normal path, not
 * a switch that turns the fence off.
 */
import type { ScenarioIds } from "../../emulator/index.ts";
import type { AzureAccessPolicy } from "../../src/api/v1alpha1/access-policy.ts";
import { API_VERSION } from "../../src/api/v1alpha1/group.ts";
import { ACCESS_POLICY_RESOURCE } from "../../src/controllers/resources.ts";
import type { KubeClient } from "../../src/runtime/client.ts";

/** Everything the seed scenario's subscription holds, for one namespace; built-in denials still apply. */
export function scenarioPolicy(namespace: string, ids: ScenarioIds): AzureAccessPolicy {
  const sub = `/subscriptions/${ids.subscriptionId}`;
  return {
    apiVersion: API_VERSION,
    kind: "AzureAccessPolicy",
    metadata: { name: `scenario-${namespace}` },
    spec: {
      namespaces: { names: [namespace] },
      logicApps: [sub],
      userAssignedIdentities: [sub],
      scopes: [sub],
      maxScopeBreadth: "subscription",
      roles: ["Key Vault Secrets User", "Reader"],
      apis: [
        { api: ids.ordersApi.identifierUri, appRoles: ["*"] },
        { api: ids.ordersApi.appId, appRoles: ["*"] },
      ],
      apimServices: [{ serviceId: sub, targets: ["Api", "Product", "Operation", "Global"] }],
    },
  };
}

/** Creates (or replaces) a policy; returns its name for cleanup. */
export async function applyAccessPolicy(client: KubeClient, policy: AzureAccessPolicy): Promise<string> {
  const name = policy.metadata.name;
  const existing = await client
    .get<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE, { name })
    .catch(() => undefined);
  if (existing)
    await client.replace(
      ACCESS_POLICY_RESOURCE,
      { name },
      { ...policy, metadata: { ...policy.metadata, resourceVersion: existing.metadata.resourceVersion } },
    );
  else await client.create(ACCESS_POLICY_RESOURCE, undefined, policy);
  return name;
}

export async function deleteAccessPolicy(client: KubeClient, name: string): Promise<void> {
  await client.delete(ACCESS_POLICY_RESOURCE, { name }).catch(() => undefined);
}

/**
 * Deletes every scenario policy a suite created. Policies are cluster-scoped, so one left behind changes what the
 * next suite sees (the admission suite's "no policy at all" case, for one): each suite removes its own in afterAll.
 */
export async function deleteScenarioPolicies(client: KubeClient): Promise<void> {
  const list = await client.list<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE, undefined);
  for (const p of list.items)
    if (p.metadata.name.startsWith("scenario-")) await deleteAccessPolicy(client, p.metadata.name);
}
