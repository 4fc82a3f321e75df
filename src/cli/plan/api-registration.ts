/**
 * ApiRegistration in `plan`: the kind's own gather (read-only ports, claims overlaid in memory) and its own pure
 * decide, round after round on an observation projected from the previous round's actions, because the kind needs
 * several writes to converge (create, then the service principal; disable a role, then remove it). What Graph
 * assigns (object id, appId) is shown as known after apply.
 *
 * The one write gather itself makes is the ownership probe of an application the operator did not create (a PATCH
 * that changes nothing, refused with 403 exactly when the operator is not an owner: gather.ts). Plan does not send
 * it: it reads the owners instead. No owner at all means an operator holding Application.ReadWrite.OwnedBy is not
 * one (refused as NotOwner, as apply would); with owners, the probe at apply decides, and plan lists it as the
 * adoption's write.
 */
import {
  API_REGISTRATION_KIND,
  ApiRegistrationSpecSchema,
  type ApiRegistration,
  type ApiRegistrationStatus,
} from "../../api/v1alpha1/index.ts";
import { AzureError } from "../../azure/errors.ts";
import type { ApplicationPort, ApplicationRegistration } from "../../azure/ports.ts";
import { decide } from "../../controllers/api-registration/decide.ts";
import { gather, type RegistrationPorts } from "../../controllers/api-registration/gather.ts";
import { appRoleId } from "../../controllers/api-registration/kind.ts";
import type {
  RegistrationAction,
  RegistrationClaim,
  RegistrationObservation,
} from "../../controllers/api-registration/model.ts";
import type { RecordAccess } from "../../runtime/records.ts";
import { KNOWN_AFTER_APPLY } from "./binding.ts";
import type { ObjectPlan, PlanAdapter, PlanChange, PlanContext } from "./model.ts";
import { noRecords, overlayRecords } from "./records.ts";

/** Create + SP, or disable + remove + SP: the kind's longest chain of writes is three; one more to see it settle. */
const MAX_ROUNDS = 4;

const APP_PATH = (id: string) => `/v1.0/applications/${id}`;

/** The applications port for plan's gather: reads pass through, the ownership probe becomes an owners read. */
function probeByOwners(applications: ApplicationPort, probed: Set<string>): ApplicationPort {
  return new Proxy(applications, {
    get(target, prop, receiver) {
      if (prop !== "patch") return Reflect.get(target, prop, receiver) as unknown;
      return async (id: string) => {
        const owners = await target.listOwners(id);
        if (owners.length === 0)
          throw new AzureError({
            kind: "Forbidden",
            message: "the application has no owner",
            service: "graph",
            operation: "plan.ownership",
          });
        probed.add(id);
      };
    },
  });
}

/** What Graph would hold after `a` (ids Graph assigns are placeholders). */
function project(o: RegistrationObservation, a: RegistrationAction): RegistrationObservation {
  switch (a.type) {
    case "createApplication": {
      const app: ApplicationRegistration = {
        id: KNOWN_AFTER_APPLY,
        appId: KNOWN_AFTER_APPLY,
        displayName: a.app.displayName,
        identifierUris: [...(a.app.identifierUris ?? [])],
        appRoles: [...(a.app.appRoles ?? [])],
        requestedAccessTokenVersion: a.app.requestedAccessTokenVersion ?? null,
        signInAudience: a.app.signInAudience ?? "AzureADMyOrg",
      };
      return { ...o, app };
    }
    case "patchApplication": {
      if (!o.app) return o;
      const c = a.changes;
      return {
        ...o,
        app: {
          ...o.app,
          ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
          ...(c.identifierUris !== undefined ? { identifierUris: [...c.identifierUris] } : {}),
          ...(c.requestedAccessTokenVersion !== undefined
            ? { requestedAccessTokenVersion: c.requestedAccessTokenVersion }
            : {}),
          ...(c.appRoles !== undefined ? { appRoles: [...c.appRoles] } : {}),
        },
      };
    }
    case "createServicePrincipal":
      return {
        ...o,
        servicePrincipal: {
          id: KNOWN_AFTER_APPLY,
          appId: a.appId,
          displayName: o.app?.displayName ?? "",
          servicePrincipalNames: [a.appId, ...(o.app?.identifierUris ?? [])],
          appRoles: (o.app?.appRoles ?? []).map((r) => ({ ...r })),
        },
      };
    case "deleteApplication":
      return { ...o, app: undefined };
  }
}

function describe(a: RegistrationAction, o: RegistrationObservation, afterApply: boolean): PlanChange {
  const after = afterApply ? { afterApply: true } : {};
  const idKnown = (id: string) => id !== KNOWN_AFTER_APPLY;
  switch (a.type) {
    case "createApplication":
      return {
        op: "create",
        summary: `create application "${a.app.displayName}" (${(a.app.identifierUris ?? []).join(", ")}), v${a.app.requestedAccessTokenVersion ?? 1} tokens, ${(a.app.appRoles ?? []).length} app role(s)`,
        fields: {
          displayName: a.app.displayName,
          identifierUris: (a.app.identifierUris ?? []).join(", "),
          tokenVersion: String(a.app.requestedAccessTokenVersion ?? 1),
          appRoles: (a.app.appRoles ?? []).map((r) => `${r.value}=${r.id}`).join(", "),
          appId: KNOWN_AFTER_APPLY,
        },
        write: { method: "POST", path: "/v1.0/applications" },
        ...after,
      };
    case "patchApplication": {
      const current = new Map((o.app?.appRoles ?? []).map((r) => [r.id.toLowerCase(), r]));
      const fields: Record<string, string> = { application: o.app?.appId ?? a.id };
      const c = a.changes;
      if (c.displayName !== undefined) fields.displayName = `${o.app?.displayName ?? ""} → ${c.displayName}`;
      if (c.identifierUris !== undefined)
        fields.identifierUris = `${(o.app?.identifierUris ?? []).join(", ")} → ${c.identifierUris.join(", ")}`;
      if (c.requestedAccessTokenVersion !== undefined)
        fields.tokenVersion = `${o.app?.requestedAccessTokenVersion ?? 1} → ${c.requestedAccessTokenVersion}`;
      const lines: string[] = [];
      for (const r of c.appRoles ?? []) {
        const was = current.get(r.id.toLowerCase());
        if (!was) lines.push(`add ${r.value} (${r.id})`);
        else if (was.isEnabled && !r.isEnabled) lines.push(`disable ${r.value} (${r.id})`);
        else if (was.displayName !== r.displayName)
          lines.push(`rename ${r.value}: "${was.displayName}" → "${r.displayName}"`);
        else if (JSON.stringify(was) !== JSON.stringify(r)) lines.push(`update ${r.value} (${r.id})`);
      }
      const kept = new Set((c.appRoles ?? []).map((r) => r.id.toLowerCase()));
      for (const r of o.app?.appRoles ?? [])
        if (c.appRoles !== undefined && !kept.has(r.id.toLowerCase()))
          lines.push(`remove ${r.value} (${r.id})`);
      if (lines.length > 0) fields.appRoles = lines.join("; ");
      const what = a.why === "disableRoles" ? "disable app roles no longer declared" : "update";
      return {
        op: a.why === "disableRoles" ? "disable-roles" : "update",
        summary: `${what} on application ${o.app?.displayName ?? a.id}: ${Object.keys(fields)
          .filter((k) => k !== "application")
          .map((k) => (k === "appRoles" ? fields.appRoles : k))
          .join("; ")}`,
        fields,
        ...(idKnown(a.id) ? { write: { method: "PATCH" as const, path: APP_PATH(a.id) } } : {}),
        ...after,
      };
    }
    case "createServicePrincipal":
      return {
        op: "create",
        summary: `create the service principal of application ${idKnown(a.appId) ? a.appId : "(appId known after apply)"}`,
        fields: { appId: a.appId },
        write: { method: "POST", path: "/v1.0/servicePrincipals" },
        ...after,
      };
    case "deleteApplication":
      return {
        op: "delete",
        summary: `delete application ${a.appId} (soft delete, restorable for 30 days)`,
        fields: { appId: a.appId, application: a.id },
        write: { method: "DELETE", path: APP_PATH(a.id) },
        ...after,
      };
  }
}

export const apiRegistrationPlanAdapter: PlanAdapter = {
  kind: API_REGISTRATION_KIND,
  namespaced: true,
  specSchema: ApiRegistrationSpecSchema,
  // Before bindings: a grant by apiRegistrationRef resolves to the appId this plan projects.
  order: 0.5,
  async plan(obj, ctx: PlanContext): Promise<Omit<ObjectPlan, "source">> {
    const file = obj as Readonly<ApiRegistration>;
    const live = ctx.live as Readonly<ApiRegistration> | undefined;
    const ns = file.metadata.namespace ?? "default";
    const reg: ApiRegistration = {
      ...file,
      metadata: {
        ...file.metadata,
        namespace: ns,
        uid: live?.metadata.uid ?? file.metadata.uid ?? "",
        generation: (live?.metadata.generation ?? 0) + 1,
      },
      ...(live?.status ? { status: live.status } : {}),
    };
    const probed = new Set<string>();
    const claims = ctx.records.registrationClaims
      ? overlayRecords(ctx.records.registrationClaims as RecordAccess<RegistrationClaim>)
      : noRecords<RegistrationClaim>();
    const ports: RegistrationPorts = {
      applications: probeByOwners(ctx.ports.applications, probed),
      graph: ctx.ports.graph,
      claims,
    };
    const roleId = (value: string) => appRoleId(ns, reg.metadata.name, value);
    let observed = await gather(reg, ports, {
      call: {},
      signal: new AbortController().signal,
      refuse: ctx.tenancy.apiRegistrationVerdict(reg),
      bindings: () => [],
      servicePrincipalPending: false,
    });
    const changes: PlanChange[] = [];
    const refusals: ObjectPlan["refusals"] = [];
    const notes: string[] = [];
    if (observed.app && probed.has(observed.app.id))
      changes.push({
        op: "adopt",
        summary: `adopt application ${observed.app.appId} (${observed.app.displayName}): kept on deletion, never deleted by this object`,
        fields: { appId: observed.app.appId, application: observed.app.id },
        // The ownership probe (a PATCH that changes nothing), sent before the claim.
        write: { method: "PATCH", path: APP_PATH(observed.app.id) },
      });
    let decision = decide(reg, observed, { roleId });
    let afterApply = false;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const verdict = ctx.tenancy.apiRegistrationGuard(reg, decision.actions);
      refusals.push(...verdict.denied.map((d) => ({ reason: d.reason, message: d.message })));
      if (decision.stalled || verdict.allowed.length === 0 || verdict.denied.length > 0) break;
      for (const a of verdict.allowed) {
        changes.push(describe(a, observed, afterApply));
        observed = project(observed, a);
      }
      if (verdict.allowed.some((a) => a.type === "createApplication")) afterApply = true;
      decision = decide(reg, observed, { roleId });
    }
    for (const c of decision.conditions)
      if (c.type === "Stalled" && c.status === "True")
        refusals.push({ reason: c.reason, message: c.message ?? "" });
    if (changes.some((c) => c.op === "disable-roles"))
      notes.push("Graph removes an enabled app role only once it is disabled: a removal is two writes.");
    const s = decision.stalled || refusals.length > 0 ? undefined : decision.status;
    return {
      kind: API_REGISTRATION_KIND,
      namespace: ns,
      name: reg.metadata.name,
      changes,
      refusals,
      notes,
      ...(s
        ? {
            registration: {
              ...(s.appId ? { appId: s.appId } : {}),
              ...(s.identifierUris ? { identifierUris: s.identifierUris } : {}),
              ...(s.tokenVersion !== undefined ? { tokenVersion: s.tokenVersion } : {}),
            },
          }
        : {}),
    };
  },
  projectStatus(_obj, plan): ApiRegistrationStatus | undefined {
    // A refused or failed registration gets no appId: bindings referencing it plan as waiting, as they would.
    const r = plan.registration;
    if (plan.error || plan.refusals.length > 0 || !r) return undefined;
    return {
      ...(r.appId ? { appId: r.appId } : {}),
      ...(r.identifierUris ? { identifierUris: r.identifierUris } : {}),
      ...(r.tokenVersion !== undefined ? { tokenVersion: r.tokenVersion } : {}),
    };
  },
};
