/**
 * AzureAccessPolicy's own status: which namespaces it selects now (count, and the first names), Ready, and a
 * Warning condition (plus one Event when it appears) when it selects none — usually a typo in a name or a label.
 * Pure: the namespaces come from gather (the informer cache), nothing is written to Azure.
 */
import {
  MAX_LISTED_NAMESPACES,
  type AccessPolicyStatus,
  type AzureAccessPolicy,
} from "../../api/v1alpha1/access-policy.ts";
import { findCondition, type ConditionInput } from "../../api/v1alpha1/conditions.ts";
import type { Decision, PassAction } from "../shared/rounds.ts";
import { selectsNamespace } from "../tenancy/authorize.ts";

export interface NamespaceFacts {
  name: string;
  labels: Readonly<Record<string, string>>;
}

export interface PolicyObservation {
  namespaces: readonly NamespaceFacts[];
}

/** The policy kind never writes to Azure. */
export type PolicyAction = PassAction & { type: never };

export const WARNING = "Warning";

export function decide(
  policy: Readonly<AzureAccessPolicy>,
  observed: PolicyObservation,
): Decision<PolicyAction, AccessPolicyStatus> {
  const gen = policy.metadata.generation;
  const g = gen !== undefined ? { observedGeneration: gen } : {};
  const selected = observed.namespaces
    .filter((ns) => selectsNamespace(policy.spec.namespaces, ns))
    .map((ns) => ns.name)
    .sort();
  const none = selected.length === 0;
  const conditions: ConditionInput[] = [
    {
      type: "Ready",
      status: "True",
      reason: "Selecting",
      message: `selects ${selected.length} namespace(s)${none ? "" : `: ${selected.slice(0, 5).join(", ")}${selected.length > 5 ? ", …" : ""}`}`,
      ...g,
    },
  ];
  const message =
    "selects no namespace: check spec.namespaces.names and the labels of spec.namespaces.selector; objects in " +
    "namespaces no policy selects may do nothing";
  if (none) conditions.push({ type: WARNING, status: "True", reason: "NoNamespaceSelected", message, ...g });
  const warnedBefore = findCondition(policy.status?.conditions, WARNING)?.status === "True";
  return {
    actions: [],
    status: {
      ...g,
      selectedNamespaces: selected.length,
      namespaces: selected.slice(0, MAX_LISTED_NAMESPACES),
    },
    conditions,
    dropConditions: none ? [] : [WARNING],
    finalize: false,
    stalled: false,
    findings:
      none && !warnedBefore
        ? [{ event: { type: "Warning", reason: "NoNamespaceSelected", note: message } }]
        : [],
  };
}
