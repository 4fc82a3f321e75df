/**
 * ApimJwtPolicy in `plan`: the kind's own gather and pure decide (controllers/jwt-policy/kind.ts `jwtPolicyPass`),
 * with the referenced binding as its own plan projects it (the principal it will pin). The prelude that cleans a
 * previous target writes, so plan does not run it and says where the rule would be taken out instead. APIM changes
 * are shown as a diff of only our fragment and of the lines of the policy document that change (our include).
 */
import {
  type ApiRegistration,
  JwtPolicySpecSchema,
  JWT_POLICY_KIND,
  type ApimJwtPolicy,
  type JwtPolicyTarget,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { desiredOf, jwtPolicyPass } from "../../controllers/jwt-policy/kind.ts";
import { targetLabel, type Action, type Observed } from "../../controllers/jwt-policy/decide.ts";
import type { JwtRecordStore } from "../../controllers/jwt-policy/gather.ts";
import { unifiedDiff } from "./diff.ts";
import type { ObjectPlan, PlanAdapter, PlanChange, PlanContext } from "./model.ts";
import { overlayRecords } from "./records.ts";

export function policyPath(serviceId: string, target: JwtPolicyTarget | undefined): string {
  if (target?.apiId && target.operationId)
    return `${serviceId}/apis/${target.apiId}/operations/${target.operationId}/policies/policy`;
  if (target?.apiId) return `${serviceId}/apis/${target.apiId}/policies/policy`;
  if (target?.productId) return `${serviceId}/products/${target.productId}/policies/policy`;
  return `${serviceId}/policies/policy`;
}

function describe(
  a: Action,
  o: Observed,
  policy: Readonly<ApimJwtPolicy>,
  uidKnown: boolean,
): PlanChange | undefined {
  const svc = policy.spec.apimServiceId;
  const label = targetLabel(policy.spec.target);
  const after = uidKnown ? {} : { afterApply: true };
  switch (a.type) {
    case "putFragment": {
      const exists = o.fragment !== undefined;
      return {
        op: exists ? "update" : "create",
        summary: `${exists ? "update" : "create"} policy fragment ${uidKnown ? a.fragmentId : "(ID known after apply)"} on ${svc.split("/").pop()}`,
        fields: {
          service: svc,
          fragmentId: uidKnown ? a.fragmentId : "(known after apply: derived from the object's UID)",
        },
        ...(uidKnown
          ? { write: { method: "PUT" as const, path: `${svc}/policyFragments/${a.fragmentId}` } }
          : {}),
        ...after,
      };
    }
    case "putPolicy":
      return {
        op: o.policy ? "update" : "create",
        summary: `${o.policy ? "update" : "create"} the ${label} policy document: include our fragment`,
        fields: { service: svc, target: label },
        write: { method: "PUT", path: policyPath(svc, policy.spec.target) },
      };
    case "deletePolicy":
      return {
        op: "delete",
        summary: `delete the ${label} policy document (it held only our rule)`,
        fields: { service: svc, target: label },
        write: { method: "DELETE", path: policyPath(svc, policy.spec.target) },
      };
    case "deleteFragment":
      return {
        op: a.migration ? "migrate" : "delete",
        summary: `delete policy fragment ${a.fragmentId}${a.migration ? " (migrated to its new ID)" : ""}`,
        fields: { service: svc, fragmentId: a.fragmentId },
        write: { method: "DELETE", path: `${svc}/policyFragments/${a.fragmentId}` },
      };
    case "putRecord":
    case "deleteRecord":
      // The operator's own record in Kubernetes: not an Azure change.
      return undefined;
  }
}

export const jwtPolicyPlanAdapter: PlanAdapter = {
  kind: JWT_POLICY_KIND,
  namespaced: true,
  specSchema: JwtPolicySpecSchema,
  order: 2,
  async plan(obj, ctx: PlanContext): Promise<Omit<ObjectPlan, "source">> {
    const file = obj as Readonly<ApimJwtPolicy>;
    const live = ctx.live as Readonly<ApimJwtPolicy> | undefined;
    const uid = live?.metadata.uid ?? file.metadata.uid;
    const policy: ApimJwtPolicy = {
      ...file,
      metadata: {
        ...file.metadata,
        namespace: file.metadata.namespace ?? "default",
        uid: uid ?? "",
        generation: (live?.metadata.generation ?? 0) + 1,
      },
      ...(live?.status ? { status: live.status } : {}),
    };
    const lookup = (ns: string, name: string) =>
      ctx.bindings(ns, name) as Readonly<LogicAppIdentityBinding> | undefined;
    const registrations = (ns: string, name: string) =>
      ctx.registrations(ns, name) as Readonly<ApiRegistration> | undefined;
    const hooks = jwtPolicyPass(
      policy,
      {
        ports: { apim: ctx.ports.apim, records: overlayRecords(ctx.records.jwtPolicies as JwtRecordStore) },
        tenancy: ctx.tenancy,
      },
      {},
      lookup,
      registrations,
    );
    const observed = await hooks.gather(policy);
    const decision = hooks.decide(policy, observed, ctx.now);
    const verdict = ctx.tenancy.jwtPolicyGuard(policy, decision.actions);
    const changes = verdict.allowed
      .map((a) => describe(a, observed, policy, uid !== undefined))
      .filter((c): c is PlanChange => c !== undefined);
    const diffs: string[] = [];
    const desired = desiredOf(policy, lookup, registrations);
    for (const a of verdict.allowed) {
      if (a.type === "putFragment")
        diffs.push(
          unifiedDiff(observed.fragment?.xml ?? "", a.xml, `fragment ${uid ? a.fragmentId : "(new)"}`, 3),
        );
      if (a.type === "putPolicy")
        diffs.push(
          unifiedDiff(observed.policy?.xml ?? "", a.xml, `policy ${targetLabel(policy.spec.target)}`, 1),
        );
      if (a.type === "deletePolicy" && observed.policy)
        diffs.push(unifiedDiff(observed.policy.xml, "", `policy ${targetLabel(policy.spec.target)}`, 0));
    }
    // Without the object's UID the fragment ID is not known: say so rather than show an ID that will not be used.
    if (uid === undefined)
      for (let i = 0; i < diffs.length; i++)
        diffs[i] = diffs[i]!.replaceAll(desired.fragmentId, "(known after apply)");
    const notes: string[] = [];
    const previous = live?.status?.target;
    if (previous !== undefined && previous !== targetLabel(policy.spec.target))
      notes.push(
        `The target moved from ${previous}: the operator first takes our include out of ${previous} (not shown as a diff).`,
      );
    if (policy.spec.bindingRef && !desired.binding?.ready)
      notes.push(
        `Waits for LogicAppIdentityBinding ${policy.spec.bindingRef.name} to be Ready (its principal is pinned).`,
      );
    if (policy.spec.bindingRef && desired.binding?.principalId)
      notes.push(`Pins principal ${desired.binding.principalId} of binding ${policy.spec.bindingRef.name}.`);
    const stalled = decision.conditions.filter((c) => c.type === "Stalled" && c.status === "True");
    return {
      kind: JWT_POLICY_KIND,
      namespace: policy.metadata.namespace ?? "default",
      name: policy.metadata.name,
      changes,
      refusals: [
        ...stalled.map((c) => ({ reason: c.reason, message: c.message ?? "" })),
        ...verdict.denied.map((d) => ({ reason: d.reason, message: d.message })),
      ],
      notes,
      ...(diffs.some((d) => d !== "") ? { diff: diffs.filter((d) => d !== "").join("\n") } : {}),
    };
  },
};
