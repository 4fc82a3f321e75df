import { armError } from "./http.ts";
import { key } from "./ids.ts";
import { deletePrincipal, mintManagedIdentityPrincipal } from "./principals.ts";
import type { Runtime } from "./runtime.ts";
import type { IdentityRecord, IdentityType, JsonObject } from "./state.ts";

/** Consumption workflows take one identity kind and one user-assigned identity; Standard sites take both, many. */
export type IdentityFlavour = "Consumption" | "Standard";

export interface IdentityRequest {
  type: IdentityType;
  /** Keys as the client sent them; `null` removes one (PATCH semantics). */
  userAssignedIdentities?: Record<string, unknown>;
}

const TYPES: Record<string, IdentityType> = {
  none: "None",
  systemassigned: "SystemAssigned",
  userassigned: "UserAssigned",
  "systemassigned,userassigned": "SystemAssigned, UserAssigned",
};

export function parseIdentityRequest(raw: unknown): IdentityRequest | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw armError(400, "InvalidIdentity", "The identity property is not valid.");
  }
  const o = raw as JsonObject;
  const t =
    TYPES[
      String(o.type ?? "")
        .replace(/\s+/g, "")
        .toLowerCase()
    ];
  if (!t) {
    throw armError(
      400,
      "InvalidIdentityType",
      `The identity type '${String(o.type)}' is not supported. Supported values are 'None', 'SystemAssigned', 'UserAssigned'.`,
    );
  }
  const uai = o.userAssignedIdentities;
  if (uai !== undefined && uai !== null && (typeof uai !== "object" || Array.isArray(uai))) {
    throw armError(400, "InvalidIdentity", "The 'userAssignedIdentities' property must be an object.");
  }
  return { type: t, userAssignedIdentities: (uai ?? undefined) as Record<string, unknown> | undefined };
}

export function identityType(rec: IdentityRecord): IdentityType {
  const sys = rec.systemPrincipalId !== undefined;
  const user = rec.userAssignedIds.length > 0;
  if (sys && user) return "SystemAssigned, UserAssigned";
  if (sys) return "SystemAssigned";
  if (user) return "UserAssigned";
  return "None";
}

/**
 * Applies a requested identity to a resource, with Azure's side effects: every None→SystemAssigned mints a new
 * principal (a new object id each time); leaving SystemAssigned deletes that principal from the directory.
 * `merge` is PATCH semantics for userAssignedIdentities (keep the unnamed ones, `null` removes).
 */
export function applyIdentity(
  rt: Runtime,
  resourceId: string,
  resourceName: string,
  current: IdentityRecord,
  req: IdentityRequest,
  flavour: IdentityFlavour,
  merge: boolean,
): IdentityRecord {
  const wantsSystem = req.type === "SystemAssigned" || req.type === "SystemAssigned, UserAssigned";
  const wantsUser = req.type === "UserAssigned" || req.type === "SystemAssigned, UserAssigned";
  const given = req.userAssignedIdentities ?? {};

  if (flavour === "Consumption" && req.type === "SystemAssigned, UserAssigned") {
    throw armError(
      400,
      "InvalidIdentityType",
      "The identity type 'SystemAssigned, UserAssigned' is not supported for a Consumption logic app. Enable either the system-assigned identity or one user-assigned identity.",
    );
  }
  if (!wantsUser && Object.keys(given).length > 0) {
    throw armError(
      400,
      "InvalidIdentity",
      `The identity ids are only supported for 'UserAssigned' identity type.`,
    );
  }

  let userIds: string[] = [];
  if (wantsUser) {
    const kept = merge
      ? current.userAssignedIds.filter((id) => !Object.keys(given).some((g) => key(g) === key(id)))
      : [];
    const added = Object.entries(given)
      .filter(([, v]) => v !== null)
      .map(([id]) => id);
    userIds = [...kept, ...added];
    for (const id of userIds) {
      if (!rt.state.userAssignedIdentities[key(id)]) {
        throw armError(
          400,
          "FailedIdentityOperation",
          `Identity operation for resource '${resourceId}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user assigned identity '${id}' was not found.'.'`,
        );
      }
    }
    if (userIds.length === 0) {
      throw armError(
        400,
        "InvalidIdentity",
        "At least one user assigned identity must be specified for identity type 'UserAssigned'.",
      );
    }
    if (flavour === "Consumption" && userIds.length > 1) {
      throw armError(
        400,
        "InvalidIdentity",
        "Only one user assigned identity is supported for a Consumption logic app.",
      );
    }
  }

  let systemPrincipalId = current.systemPrincipalId;
  if (wantsSystem && !systemPrincipalId) {
    systemPrincipalId = mintManagedIdentityPrincipal(rt, resourceId, resourceName, false).id;
  } else if (!wantsSystem && systemPrincipalId) {
    deletePrincipal(rt, systemPrincipalId);
    systemPrincipalId = undefined;
  }
  const next: IdentityRecord = { userAssignedIds: userIds, explicitNone: true };
  if (systemPrincipalId) next.systemPrincipalId = systemPrincipalId;
  return next;
}

/** Drops a resource's system principal (resource deleted). */
export function releaseIdentity(rt: Runtime, rec: IdentityRecord): void {
  if (rec.systemPrincipalId) deletePrincipal(rt, rec.systemPrincipalId);
}

/** The `identity` object as ARM returns it, or undefined when the resource never had one. */
export function renderIdentity(rt: Runtime, rec: IdentityRecord): JsonObject | undefined {
  const type = identityType(rec);
  if (type === "None") return rec.explicitNone ? { type: "None" } : undefined;
  const out: JsonObject = { type };
  if (rec.systemPrincipalId) {
    out.principalId = rec.systemPrincipalId;
    out.tenantId = rt.state.tenantId;
  }
  if (rec.userAssignedIds.length > 0) {
    const uai: JsonObject = {};
    for (const id of rec.userAssignedIds) {
      const u = rt.state.userAssignedIdentities[key(id)];
      uai[id] = u ? { principalId: u.principalId, clientId: u.clientId } : {};
    }
    out.userAssignedIdentities = uai;
  }
  return out;
}
