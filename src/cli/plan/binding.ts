/**
 * LogicAppIdentityBinding in `plan`: the kind's own gather (read-only ports, records overlaid in memory) and its
 * own pure decide (controllers/binding/kind.ts `bindingPass`), once; then, when decide turns an identity on whose
 * principal Azure has not made yet, decide once more on the observation with a placeholder principal, so the grants
 * that follow are shown as known after apply (as `terraform plan` does). The guard (AzureAccessPolicy) runs on the
 * actions as the engine runs it between decide and apply.
 */
import {
  BindingSpecSchema,
  BINDING_KIND,
  type ApiRegistration,
  type BindingStatus,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import { bindingPass, withRegistrationRefs } from "../../controllers/binding/kind.ts";
import type { BindingAction, BindingObservation } from "../../controllers/binding/model.ts";
import { BindingRecords } from "../../controllers/binding/ownership.ts";
import type { BindingRecord } from "../../controllers/shared/ownership.ts";
import type { RecordAccess } from "../../runtime/records.ts";
import type { ObjectPlan, PlanAdapter, PlanChange, PlanContext, PlanRefusal } from "./model.ts";
import { overlayRecords } from "./records.ts";

/** Stands in for a principal Azure creates when the identity is turned on. */
export const KNOWN_AFTER_APPLY = "(known after apply)";

const short = (id: string) => id.split("/").pop() ?? id;

function describe(
  a: BindingAction,
  o: BindingObservation,
  logicAppId: string,
  afterApply: boolean,
): PlanChange {
  const roleName = (definitionId: string) =>
    o.roles.find(
      (r) => r.definition && short(r.definition.id).toLowerCase() === short(definitionId).toLowerCase(),
    )?.definition?.roleName ?? "(role name not resolved)";
  const appRole = (resourceId: string, appRoleId: string) => {
    const api = o.apis.find((x) => x.servicePrincipal?.id.toLowerCase() === resourceId.toLowerCase());
    const role = api?.servicePrincipal?.appRoles.find((r) => r.id === appRoleId);
    return { api: api?.api ?? resourceId, value: role?.value ?? "(app role not resolved)" };
  };
  const after = afterApply ? { afterApply: true } : {};
  switch (a.type) {
    case "setIdentity": {
      const op =
        a.why === "enable"
          ? "enable-identity"
          : a.why === "attach"
            ? "attach-identity"
            : a.why === "driftRepair"
              ? "repair-identity"
              : "disable-identity";
      return {
        op,
        summary: `${op.replace("-", " ")} on ${short(logicAppId)}: ${a.desired.type}${a.desired.userAssignedIdentityIds.length ? ` (${a.desired.userAssignedIdentityIds.map(short).join(", ")})` : ""}`,
        fields: {
          logicApp: logicAppId,
          identityType: a.desired.type,
          ...(a.desired.userAssignedIdentityIds.length
            ? { userAssignedIdentities: a.desired.userAssignedIdentityIds.join(", ") }
            : {}),
        },
        // Consumption: GET then PUT of the workflow; Standard: PATCH of the site (azure/arm/logic-apps.ts).
        write: { method: o.logicApp.kind === "Standard" ? "PATCH" : "PUT", path: logicAppId },
        ...after,
      };
    }
    case "createRoleAssignment": {
      const role = roleName(a.roleDefinitionId);
      return {
        op: a.driftRepair ? "re-grant" : "create",
        summary: `${a.driftRepair ? "re-grant" : "grant"} "${role}" (${short(a.roleDefinitionId)}) on ${a.scope} to ${a.principalId}`,
        fields: {
          role,
          roleDefinitionGuid: short(a.roleDefinitionId),
          scope: a.scope,
          principalId: a.principalId,
          assignmentName: afterApply ? KNOWN_AFTER_APPLY : a.name,
        },
        ...(afterApply
          ? {}
          : {
              write: {
                method: "PUT" as const,
                path: `${a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
              },
            }),
        ...after,
      };
    }
    case "deleteRoleAssignment": {
      const existing = o.roleAssignments.find((r) => r.id.toLowerCase() === a.id.toLowerCase());
      const op = a.why === "orphaned" ? "sweep" : "revoke";
      const role = existing ? roleName(existing.roleDefinitionId) : "(unknown role)";
      return {
        op,
        summary: `${op} "${role}"${existing ? ` on ${existing.scope}` : ""} from ${a.principalId} (${a.why})`,
        fields: {
          role,
          ...(existing
            ? { roleDefinitionGuid: short(existing.roleDefinitionId), scope: existing.scope }
            : {}),
          principalId: a.principalId,
          assignmentId: a.id,
          why: a.why,
        },
        write: { method: "DELETE", path: a.id },
        ...after,
      };
    }
    case "createAppRoleAssignment": {
      const r = appRole(a.resourceId, a.appRoleId);
      return {
        op: a.driftRepair ? "re-grant" : "create",
        summary: `${a.driftRepair ? "re-grant" : "grant"} app role "${r.value}" of ${r.api} to ${a.principalId}`,
        fields: {
          api: r.api,
          appRole: r.value,
          appRoleId: a.appRoleId,
          resourceId: a.resourceId,
          principalId: a.principalId,
        },
        ...(afterApply
          ? {}
          : {
              write: {
                method: "POST" as const,
                path: `/v1.0/servicePrincipals/${a.resourceId}/appRoleAssignedTo`,
              },
            }),
        ...after,
      };
    }
    case "deleteAppRoleAssignment": {
      const op = a.why === "orphaned" ? "sweep" : "revoke";
      const listed = o.appRoleAssignments[a.resourceId.toLowerCase()]?.find((x) => x.id === a.id);
      const r = listed ? appRole(a.resourceId, listed.appRoleId) : { api: a.resourceId, value: "(unknown)" };
      return {
        op,
        summary: `${op} app role "${r.value}" of ${r.api} from ${a.principalId} (${a.why})`,
        fields: {
          api: r.api,
          appRole: r.value,
          resourceId: a.resourceId,
          principalId: a.principalId,
          assignmentId: a.id,
          why: a.why,
        },
        write: {
          method: "DELETE",
          path: `/v1.0/servicePrincipals/${a.resourceId}/appRoleAssignedTo/${a.id}`,
        },
        ...after,
      };
    }
    case "putConnectionAccessPolicy":
      return {
        op: "create",
        summary: `let ${a.principalId} use API connection ${short(a.connectionId)} (access policy ${a.name})`,
        fields: { connection: a.connectionId, accessPolicy: a.name, principalId: a.principalId },
        ...(afterApply
          ? {}
          : { write: { method: "PUT" as const, path: `${a.connectionId}/accessPolicies/${a.name}` } }),
        ...after,
      };
    case "deleteConnectionAccessPolicy":
      return {
        op: a.why === "stale" ? "sweep" : "revoke",
        summary: `remove access policy ${a.name} of ${a.principalId} from API connection ${short(a.connectionId)} (${a.why})`,
        fields: { connection: a.connectionId, accessPolicy: a.name, principalId: a.principalId, why: a.why },
        write: { method: "DELETE", path: `${a.connectionId}/accessPolicies/${a.name}` },
        ...after,
      };
  }
}

/**
 * Grants decide found already there and not provably this object's: adopted (never revoked), no write. Without the
 * object from the cluster plan knows no UID, so a grant the operator made for it looks the same as a foreign one:
 * it is reported as existing, and --cluster tells which.
 */
function adoptions(next: BindingStatus, previous: BindingStatus | undefined, known: boolean): PlanChange[] {
  const had = new Set(
    (previous?.roleAssignments ?? [])
      .filter((r) => r.ownership === "Adopted")
      .map((r) => r.id?.toLowerCase()),
  );
  return (next.roleAssignments ?? [])
    .filter((r) => r.ownership === "Adopted" && r.id && !had.has(r.id.toLowerCase()))
    .map((r) => ({
      op: known ? "adopt" : "exists",
      summary: known
        ? `adopt existing "${r.role}" on ${r.scope}: kept, never revoked`
        : `"${r.role}" on ${r.scope} exists already (made for this binding or by someone else: --cluster tells which)`,
      fields: {
        role: r.role,
        ...(r.roleDefinitionId ? { roleDefinitionGuid: short(r.roleDefinitionId) } : {}),
        scope: r.scope,
        ...(r.principalId ? { principalId: r.principalId } : {}),
        assignmentId: r.id ?? "",
      },
    }));
}

function refusalsOf(
  conditions: readonly { type: string; status: string; reason: string; message?: string }[],
): PlanRefusal[] {
  return conditions
    .filter((c) => c.type === "Stalled" && c.status === "True")
    .map((c) => ({ reason: c.reason, message: c.message ?? "" }));
}

/** The observation as the next round would see it once the identity is on: a placeholder principal. */
function withPrincipal(
  o: BindingObservation,
  b: LogicAppIdentityBinding,
  a: Extract<BindingAction, { type: "setIdentity" }>,
): BindingObservation {
  const ua = o.userAssignedIdentity;
  return {
    ...o,
    logicApp: {
      ...o.logicApp,
      identity: {
        ...o.logicApp.identity,
        type: a.desired.type,
        ...(b.spec.identity.type === "SystemAssigned" ? { principalId: KNOWN_AFTER_APPLY } : {}),
        userAssigned: a.desired.userAssignedIdentityIds.map((id) => ({
          id,
          ...(ua && ua.principalId ? { principalId: ua.principalId } : { principalId: KNOWN_AFTER_APPLY }),
        })),
      },
    },
  };
}

export const bindingPlanAdapter: PlanAdapter = {
  kind: BINDING_KIND,
  namespaced: true,
  specSchema: BindingSpecSchema,
  order: 1,
  async plan(obj, ctx: PlanContext): Promise<Omit<ObjectPlan, "source">> {
    const file = obj as Readonly<LogicAppIdentityBinding>;
    const live = ctx.live as Readonly<LogicAppIdentityBinding> | undefined;
    // Decide from the file's spec and what the cluster recorded (status, uid): what merging would do today.
    const b: LogicAppIdentityBinding = {
      ...file,
      metadata: {
        ...file.metadata,
        namespace: file.metadata.namespace ?? "default",
        uid: live?.metadata.uid ?? file.metadata.uid ?? "",
        generation: (live?.metadata.generation ?? 0) + 1,
      },
      ...(live?.status ? { status: live.status } : {}),
    };
    // Grants by apiRegistrationRef resolve as the kind resolves them (withRegistrationRefs), from the registrations
    // in the files (as their plan leaves them) or the cluster. A registration this plan creates has no appId yet:
    // its grants are listed as known after apply and left out of decide (which would only wait for them).
    const ns = b.metadata.namespace ?? "default";
    const registration = (name: string) =>
      ctx.registrations(ns, name) as Readonly<ApiRegistration> | undefined;
    const pendingRefs = (b.spec.appRoleAssignments ?? []).filter(
      (g) =>
        g.apiRegistrationRef && registration(g.apiRegistrationRef.name)?.status?.appId === KNOWN_AFTER_APPLY,
    );
    const resolved = withRegistrationRefs(
      pendingRefs.length > 0
        ? {
            ...b,
            spec: {
              ...b.spec,
              appRoleAssignments: (b.spec.appRoleAssignments ?? []).filter((g) => !pendingRefs.includes(g)),
            },
          }
        : b,
      registration,
    );
    const records = new BindingRecords({
      records: overlayRecords(ctx.records.bindings as RecordAccess<BindingRecord>),
    });
    const session = records.open(resolved, new AbortController().signal, () => []);
    const hooks = bindingPass(resolved, { ports: ctx.ports, tenancy: ctx.tenancy }, session, {});
    const observed = await hooks.gather(resolved);
    const decision = hooks.decide(resolved, observed, ctx.now);
    const verdict = ctx.tenancy.bindingGuard(resolved, decision.actions);
    const changes = verdict.allowed.map((a) => describe(a, observed, b.spec.logicAppId, false));
    changes.push(...adoptions(decision.status, live?.status, live !== undefined));
    const notes: string[] = [];
    const enable = verdict.allowed.find(
      (a): a is Extract<BindingAction, { type: "setIdentity" }> =>
        a.type === "setIdentity" && (a.why === "enable" || a.why === "attach"),
    );
    let principal = decision.status.principalId;
    if (enable) {
      const projected = withPrincipal(observed, b, enable);
      const next = hooks.decide(resolved, projected, ctx.now);
      const more = ctx.tenancy
        .bindingGuard(resolved, next.actions)
        .allowed.filter((a) => a.type !== "setIdentity");
      changes.push(...more.map((a) => describe(a, projected, b.spec.logicAppId, true)));
      principal = next.status.principalId;
      if (principal === KNOWN_AFTER_APPLY)
        notes.push(
          "The identity's principal is created by Azure when it is turned on: grants show it as known after apply.",
        );
    }
    for (const g of pendingRefs) {
      const name = g.apiRegistrationRef?.name ?? "";
      changes.push({
        op: "create",
        summary: `grant app role "${g.appRole}" of ApiRegistration ${name} (created by this plan) to ${principal ?? KNOWN_AFTER_APPLY}`,
        fields: {
          apiRegistration: name,
          api: KNOWN_AFTER_APPLY,
          appRole: g.appRole,
          principalId: principal ?? KNOWN_AFTER_APPLY,
        },
        afterApply: true,
      });
    }
    if (pendingRefs.length > 0)
      notes.push(
        "Grants on an ApiRegistration this plan creates wait for its appId and service principal (known after apply).",
      );
    if (decision.requeueAfterMs !== undefined && changes.length === 0 && !decision.stalled)
      notes.push("Waiting on Azure (replication or a fresh identity); the operator re-checks by itself.");
    return {
      kind: BINDING_KIND,
      namespace: b.metadata.namespace ?? "default",
      name: b.metadata.name,
      changes,
      refusals: [
        ...refusalsOf(decision.conditions),
        ...verdict.denied.map((d) => ({ reason: d.reason, message: d.message })),
      ],
      notes,
      ...(principal
        ? {
            identity: {
              principalId: principal,
              ...(decision.status.tenantId ? { tenantId: decision.status.tenantId } : {}),
            },
          }
        : {}),
    };
  },
  projectStatus(obj, plan) {
    const b = obj as Readonly<LogicAppIdentityBinding>;
    const principal = plan.identity?.principalId;
    if (plan.error || plan.refusals.length > 0 || !principal) return undefined;
    const g = b.metadata.generation !== undefined ? { observedGeneration: b.metadata.generation } : {};
    // A principal Azure has not made yet cannot be pinned: the binding is projected as existing but not Ready, so a
    // JWT policy plans as waiting for it (a missing binding is BindingNotFound, Stalled, since reliability finding 1).
    if (principal === KNOWN_AFTER_APPLY)
      return {
        conditions: [
          {
            type: "Ready",
            status: "False",
            reason: "Planned",
            message: "its principal is known after apply",
            lastTransitionTime: "1970-01-01T00:00:00Z",
            ...g,
          },
        ],
      };
    const status: BindingStatus = {
      principalId: principal,
      ...(plan.identity?.tenantId ? { tenantId: plan.identity.tenantId } : {}),
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Planned",
          message: "as projected by plan",
          lastTransitionTime: "1970-01-01T00:00:00Z",
          ...g,
        },
      ],
    };
    return status;
  },
};

export type { KubeObject };
