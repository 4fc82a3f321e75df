/**
 * Tenancy in decide: what the AzureAccessPolicy matcher refused (verdicts from gather) is no longer wanted. A refused
 * grant leaves the effective spec, so the ordinary removed-from-spec revocation takes back a grant THIS binding
 * created for it (never an adopted or hand-made one); a refused Logic App or identity takes every grant with it and
 * means no identity write. The refusal is reported as a Failed entry and, through the facets, Stalled. Pure.
 */
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type {
  AppRoleAssignmentStatus,
  LogicAppIdentityBinding,
  RoleAssignmentStatus,
} from "../../api/v1alpha1/index.ts";
import type { Report } from "../shared/rounds.ts";
import { DenyReasons } from "../tenancy/authorize.ts";
import type { IdentityOutcome } from "./decide-identity.ts";
import type { Facet } from "./decide-support.ts";
import { appRoleKey, roleKey, type BindingVerdicts, type Refusal } from "./model.ts";

/** The matcher's deny reasons are the binding's tenancy reasons: one list, owned by the matcher. */
export const TENANCY_REASONS = DenyReasons;

/** The binding as far as the policies allow it: refused entries (all of them, if the identity is) removed. */
export function allowedSpec(binding: LogicAppIdentityBinding, t: BindingVerdicts): LogicAppIdentityBinding {
  const spec = binding.spec;
  const roles = t.identity
    ? []
    : (spec.roleAssignments ?? []).filter((r) => !t.roles[roleKey(r.scope, r.role)]);
  const apps = t.identity ? [] : appRoleGrants(spec).filter((a) => !t.apps[appRoleKey(a.api, a.appRole)]);
  return { ...binding, spec: { ...spec, roleAssignments: roles, appRoleAssignments: apps } };
}

/** A refused Logic App or identity: no identity write, and the facet says why. */
export function refuseIdentity(outcome: IdentityOutcome, t: BindingVerdicts): IdentityOutcome {
  if (!t.identity) return outcome;
  const { action: _dropped, ...rest } = outcome;
  return { ...rest, facet: { ok: false, reason: t.identity.reason, message: t.identity.message } };
}

export interface RefusedGrants {
  roleStatuses: RoleAssignmentStatus[];
  appStatuses: AppRoleAssignmentStatus[];
  /** The first refusal per facet (it comes before any other problem of that facet). */
  roleFacet?: Facet;
  appFacet?: Facet;
  /** A Warning per grant of ours that a refusal is taking back: what and why. */
  findings: Report[];
}

/**
 * The spec entries refused, as Failed status entries (unless a revocation already reports that entry), their
 * facets, and an Event for each grant this binding holds that the refusal revokes.
 */
export function refusedGrants(
  binding: LogicAppIdentityBinding,
  t: BindingVerdicts,
  revoking: { roleKeys: ReadonlySet<string>; appKeys: ReadonlySet<string> },
): RefusedGrants {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const out: RefusedGrants = { roleStatuses: [], appStatuses: [], findings: [] };
  const why = (key: string, own: Record<string, Refusal>): Refusal | undefined =>
    t.identity
      ? {
          ...t.identity,
          message: `${t.identity.message}; no grant is made for a Logic App or identity the policies refuse`,
        }
      : own[key];
  for (const ra of spec.roleAssignments ?? []) {
    const key = roleKey(ra.scope, ra.role);
    const r = why(key, t.roles);
    if (!r) continue;
    out.roleFacet ??= { ok: false, reason: r.reason, message: r.message };
    const held = (prev.roleAssignments ?? []).find(
      (e) => roleKey(e.scope, e.role) === key && e.ownership === "Created" && e.id,
    );
    if (held) out.findings.push(revokedEvent(`role '${ra.role}' at ${ra.scope} (assignment ${held.id})`, r));
    if (!revoking.roleKeys.has(key))
      out.roleStatuses.push({ scope: ra.scope, role: ra.role, state: "Failed", message: r.message });
  }
  for (const ar of appRoleGrants(spec)) {
    const key = appRoleKey(ar.api, ar.appRole);
    const r = why(key, t.apps);
    if (!r) continue;
    out.appFacet ??= { ok: false, reason: r.reason, message: r.message };
    const held = (prev.appRoleAssignments ?? []).find(
      (e) => appRoleKey(e.api, e.appRole) === key && e.ownership === "Created" && e.id,
    );
    if (held)
      out.findings.push(revokedEvent(`app role '${ar.appRole}' of ${ar.api} (assignment ${held.id})`, r));
    if (!revoking.appKeys.has(key))
      out.appStatuses.push({ api: ar.api, appRole: ar.appRole, state: "Failed", message: r.message });
  }
  return out;
}

function revokedEvent(what: string, r: Refusal): Report {
  return {
    event: {
      type: "Warning",
      reason: "AccessRevoked",
      note: `revoking ${what}: ${r.reason} (${r.rule}): ${r.message}`,
    },
  };
}
