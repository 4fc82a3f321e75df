/**
 * AzureAccessPolicy in `plan`: its own pure decide over the namespaces known (cluster and Namespace documents in
 * the files). It writes nothing anywhere; its effect on the other objects' plans comes through the tenancy fence,
 * which the engine builds from the policies in the files (overriding the cluster's of the same name).
 */
import {
  ACCESS_POLICY_KIND,
  AccessPolicySpecSchema,
  type AzureAccessPolicy,
} from "../../api/v1alpha1/access-policy.ts";
import { decide } from "../../controllers/access-policy/decide.ts";
import type { PlanAdapter } from "./model.ts";

export function accessPolicyPlanAdapter(
  namespaces: () => { name: string; labels: Record<string, string> }[],
): PlanAdapter {
  return {
    kind: ACCESS_POLICY_KIND,
    namespaced: false,
    specSchema: AccessPolicySpecSchema,
    order: 0,
    plan: async (obj) => {
      const policy = obj as Readonly<AzureAccessPolicy>;
      const d = decide(policy, { namespaces: namespaces() });
      const ready = d.conditions.find((c) => c.type === "Ready");
      const warning = d.conditions.find((c) => c.type === "Warning" && c.status === "True");
      return {
        kind: ACCESS_POLICY_KIND,
        name: policy.metadata.name,
        changes: [],
        refusals: [],
        notes: [
          ...(ready ? [`Policy ${ready.message}.`] : []),
          ...(warning ? [`Warning ${warning.reason}: ${warning.message}`] : []),
          "An access policy writes nothing to Azure; its effect shows in the plans of the objects it governs.",
        ],
      };
    },
  };
}
