/**
 * ApiRegistration's decisions, pure: desired app registration vs what Graph shows → writes and conditions.
 * App role ids come from `roleId` (the kind hashes namespace, name and value): a role keeps its id across a display
 * name change, a restored object (new UID) finds the same ids, and an adopted application's existing role with the
 * same value keeps the id it has. Graph refuses to delete an enabled role or change its value in one PATCH
 * (CannotDeleteOrUpdateEnabledEntitlement, ADR 0017), so a removal is two writes: disable, then remove.
 */
import {
  API_REGISTRATION_KIND,
  type ApiRegistration,
  type ApiRegistrationStatus,
} from "../../api/v1alpha1/api-registration.ts";
import type { ConditionInput } from "../../api/v1alpha1/conditions.ts";
import type { ApplicationAppRole, ApplicationChanges, ApplicationRegistration } from "../../azure/ports.ts";
import type { Decision } from "../shared/rounds.ts";
import type { RegistrationAction, RegistrationObservation } from "./model.ts";

export type RegistrationDecision = Decision<RegistrationAction, ApiRegistrationStatus>;

export interface DecideOptions {
  /** Deterministic app role id for a value (the kind: a UUID from a hash of namespace, name and value). */
  roleId: (value: string) => string;
  /** Re-check while the service principal waits for replication. Default 2 s. */
  replicationPollMs?: number;
}

const OWNED_BY =
  "the operator uses Application.ReadWrite.OwnedBy and may only change applications it owns: add its service " +
  "principal as an owner of the application (an administrator with Application.ReadWrite.All), or remove the " +
  "identifier URI from this object";

/** The app roles the application should carry, ids settled (an existing role with the same value keeps its id). */
export function desiredRoles(
  reg: Readonly<ApiRegistration>,
  app: ApplicationRegistration | undefined,
  roleId: (value: string) => string,
): ApplicationAppRole[] {
  return (reg.spec.appRoles ?? []).map((r) => ({
    id: app?.appRoles.find((x) => x.value === r.value)?.id ?? roleId(r.value),
    value: r.value,
    displayName: r.displayName,
    description: r.description ?? "",
    allowedMemberTypes: [...(r.allowedMemberTypes ?? ["Application"])].sort(),
    isEnabled: r.enabled ?? true,
  }));
}

const roleKey = (r: ApplicationAppRole) =>
  JSON.stringify([
    r.id.toLowerCase(),
    r.value,
    r.displayName,
    r.description,
    [...r.allowedMemberTypes].sort(),
    r.isEnabled,
  ]);

const sameRoles = (a: readonly ApplicationAppRole[], b: readonly ApplicationAppRole[]) => {
  const x = a.map(roleKey).sort();
  const y = b.map(roleKey).sort();
  return x.length === y.length && x.every((k, i) => k === y[i]);
};

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);

/**
 * The next PATCH for the app roles, or undefined when they match. Roles to remove that are still enabled are first
 * disabled (everything else already as desired in the same write); the following round removes them.
 */
export function rolesPatch(
  desired: readonly ApplicationAppRole[],
  current: readonly ApplicationAppRole[],
): { appRoles: ApplicationAppRole[]; why: "update" | "disableRoles" } | undefined {
  const wanted = new Set(desired.map((r) => r.id.toLowerCase()));
  const leaving = current.filter((r) => !wanted.has(r.id.toLowerCase()));
  const enabledLeaving = leaving.filter((r) => r.isEnabled);
  if (enabledLeaving.length > 0)
    return {
      appRoles: [...desired, ...leaving.map((r) => ({ ...r, isEnabled: false }))],
      why: "disableRoles",
    };
  return sameRoles(desired, current) ? undefined : { appRoles: [...desired], why: "update" };
}

export function decide(
  reg: Readonly<ApiRegistration>,
  observed: RegistrationObservation,
  options: DecideOptions,
): RegistrationDecision {
  const gen = reg.metadata.generation;
  const g = gen !== undefined ? { observedGeneration: gen } : {};
  const app = observed.app;
  const sp = observed.servicePrincipal;
  const status: ApiRegistrationStatus = {
    ...g,
    ...(app
      ? {
          appId: app.appId,
          objectId: app.id,
          identifierUris: app.identifierUris,
          tokenVersion: app.requestedAccessTokenVersion ?? 1,
          appRoles: app.appRoles.map((r) => ({ value: r.value, id: r.id, enabled: r.isEnabled })),
          adopted: observed.claim ? !observed.claim.created : undefined,
        }
      : {}),
    ...(sp ? { servicePrincipalId: sp.id } : {}),
    ...(sp?.appOwnerOrganizationId ? { tenantId: sp.appOwnerOrganizationId } : {}),
  };
  if (status.adopted === undefined) delete status.adopted;
  const base = { status, findings: [], finalize: false, stalled: false, actions: [] as RegistrationAction[] };
  const conds = (
    ready: "True" | "False",
    reason: string,
    message: string,
    state: "stalled" | "reconciling" | "ready",
  ): ConditionInput[] => [
    { type: "Ready", status: ready, reason, message, ...g },
    { type: "Stalled", status: state === "stalled" ? "True" : "False", reason, message, ...g },
    { type: "Reconciling", status: state === "reconciling" ? "True" : "False", reason, message, ...g },
  ];
  const stall = (reason: string, message: string): RegistrationDecision => ({
    ...base,
    stalled: true,
    conditions: conds("False", reason, message, "stalled"),
  });
  const progress = (
    reason: string,
    message: string,
    actions: RegistrationAction[],
    requeueAfterMs?: number,
  ): RegistrationDecision => ({
    ...base,
    actions,
    conditions: conds("False", reason, message, "reconciling"),
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
  });

  if (reg.metadata.deletionTimestamp !== undefined) {
    const policy = reg.spec.deletionPolicy ?? "Orphan";
    const ours = observed.claim?.created === true;
    if (policy === "Orphan" || !app || !ours) return { ...base, finalize: true, conditions: [] };
    if (observed.grantedBy && observed.grantedBy.length > 0)
      return stall(
        "RolesStillGranted",
        `deletionPolicy Delete is refused while bindings still grant its app roles (${observed.grantedBy
          .slice(0, 5)
          .join(", ")}${observed.grantedBy.length > 5 ? ", …" : ""}): deleting the application would ` +
          "delete those grants with its service principal. Remove the grants, or set deletionPolicy Orphan",
      );
    return progress("Deleting", `deleting application ${app.appId} (soft delete, restorable for 30 days)`, [
      { type: "deleteApplication", id: app.id, appId: app.appId },
    ]);
  }

  if (observed.tenancy)
    return { ...stall(observed.tenancy.reason, observed.tenancy.message), stalledOnPolicy: true };
  if (observed.claimedBy)
    return stall(
      "ApplicationClaimed",
      `application ${app?.appId ?? ""} is managed by ${API_REGISTRATION_KIND} ${observed.claimedBy}; one application ` +
        "has one declaring object (choose another identifier URI)",
    );
  const elsewhere = observed.urisHeldElsewhere ?? [];
  if (elsewhere.length > 0)
    return stall(
      "IdentifierUriInUse",
      elsewhere.map((e) => `identifier URI ${e.uri} belongs to another application (${e.appId})`).join("; ") +
        ": identifier URIs are unique in the tenant",
    );

  const tokenVersion = reg.spec.requestedAccessTokenVersion ?? 1;
  if (!app) {
    return progress("Creating", "creating the application", [
      {
        type: "createApplication",
        app: {
          displayName: reg.spec.displayName,
          identifierUris: [...reg.spec.identifierUris],
          // An API called by daemons in this tenant: single tenant, and the token version sent explicitly.
          signInAudience: "AzureADMyOrg",
          requestedAccessTokenVersion: tokenVersion,
          appRoles: desiredRoles(reg, undefined, options.roleId),
        },
      },
    ]);
  }
  if (observed.notOwner) return stall("NotOwner", `${observed.notOwner}: ${OWNED_BY}`);

  const changes: ApplicationChanges = {};
  if (app.displayName !== reg.spec.displayName) changes.displayName = reg.spec.displayName;
  if (!sameSet(app.identifierUris, reg.spec.identifierUris))
    changes.identifierUris = [...reg.spec.identifierUris];
  if ((app.requestedAccessTokenVersion ?? 1) !== tokenVersion)
    changes.requestedAccessTokenVersion = tokenVersion;
  const roles = rolesPatch(desiredRoles(reg, app, options.roleId), app.appRoles);
  if (roles) changes.appRoles = roles.appRoles;
  if (Object.keys(changes).length > 0) {
    const why = roles?.why ?? "update";
    return progress(
      "Updating",
      why === "disableRoles"
        ? "disabling app roles that are no longer declared (they are removed in a second write)"
        : `updating ${Object.keys(changes).join(", ")}`,
      [{ type: "patchApplication", id: app.id, changes, why }],
    );
  }
  if (!sp) {
    if (observed.servicePrincipalPending)
      return progress(
        "WaitingForReplication",
        `the application ${app.appId} is not replicated yet; its service principal is created when it is`,
        [],
        options.replicationPollMs ?? 2_000,
      );
    return progress("CreatingServicePrincipal", "creating the service principal", [
      { type: "createServicePrincipal", appId: app.appId },
    ]);
  }
  return {
    ...base,
    conditions: conds(
      "True",
      "Registered",
      `application ${app.appId} with ${app.appRoles.filter((r) => r.isEnabled).length} enabled app role(s); ` +
        `v${tokenVersion} tokens carry aud ${tokenVersion === 2 ? app.appId : (app.identifierUris[0] ?? "")}`,
      "ready",
    ),
  };
}
