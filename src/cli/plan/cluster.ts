/**
 * plan's view of a cluster: GET and LIST only, plus server-side dry-runs (`?dryRun=All`: the API server validates
 * and runs admission, CEL included, and persists nothing). Records are read through the operator's own record
 * stores; plan overlays their writes in memory (./records.ts), so nothing here writes.
 */
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import { createOwnershipStores } from "../../controllers/shared/ownership-store.ts";
import { registrationClaims } from "../../controllers/api-registration/kind.ts";
import {
  ACCESS_POLICY_RESOURCE,
  API_REGISTRATION_RESOURCE,
  BINDING_RESOURCE,
  JWT_POLICY_RESOURCE,
  NAMESPACE_RESOURCE,
} from "../../controllers/resources.ts";
import { isNotFound, KubeApiError, type KubeClient } from "../../runtime/client.ts";
import { collectionPath, type ResourceType } from "../../runtime/resource.ts";
import type { ClusterView } from "./engine.ts";

const RESOURCES: Record<string, ResourceType> = {
  LogicAppIdentityBinding: BINDING_RESOURCE,
  ApimJwtPolicy: JWT_POLICY_RESOURCE,
  AzureAccessPolicy: ACCESS_POLICY_RESOURCE,
  ApiRegistration: API_REGISTRATION_RESOURCE,
};

type Obj = Readonly<KubeObject<unknown, unknown>>;

export function resourceOf(kind: string): ResourceType {
  const r = RESOURCES[kind];
  if (!r) throw new Error(`no REST resource known for ${kind}`);
  return r;
}

export function clusterView(client: KubeClient, recordsNamespace: string): ClusterView {
  const stores = createOwnershipStores(client, recordsNamespace);
  return {
    get: async (kind, namespace, name) => {
      try {
        return await client.get(resourceOf(kind), { ...(namespace ? { namespace } : {}), name });
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    list: async (kind) => (await client.list<Obj>(resourceOf(kind), undefined)).items as Obj[],
    namespaces: async () =>
      (await client.list<KubeObject>(NAMESPACE_RESOURCE, undefined)).items.map((n) => ({
        name: n.metadata.name,
        labels: n.metadata.labels ?? {},
      })),
    records: {
      bindings: stores.bindings,
      jwtPolicies: stores.jwtPolicies,
      registrationClaims: registrationClaims(client, recordsNamespace),
    },
    dryRun: async (obj, live) => {
      const r = resourceOf(obj.kind);
      const ns = r.namespaced ? obj.metadata.namespace : undefined;
      const body = {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: {
          name: obj.metadata.name,
          ...(ns ? { namespace: ns } : {}),
          ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}),
          ...(live ? { resourceVersion: live.metadata.resourceVersion } : {}),
        },
        spec: obj.spec,
      };
      try {
        const path = live
          ? client.objectPath(r, { ...(ns ? { namespace: ns } : {}), name: obj.metadata.name })
          : collectionPath(r, ns);
        const stored = await client.request<Obj>(live ? "PUT" : "POST", path, {
          body,
          query: { dryRun: "All" },
        });
        return { stored };
      } catch (e) {
        if (
          e instanceof KubeApiError &&
          (e.statusCode === 422 || e.statusCode === 400 || e.statusCode === 403)
        ) {
          const st = e.body as { message?: string } | undefined;
          return { refused: st?.message ?? e.message };
        }
        throw e;
      }
    },
  };
}
