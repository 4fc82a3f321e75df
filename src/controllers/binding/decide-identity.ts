/**
 * Which identity the Logic App should have, and its principal. A grant needs a principal, so this runs first.
 * Consumption apps hold one identity kind: an identity someone else put there is a Stalled conflict, never a
 * flip-flop; one this binding put there is replaced when the spec changes. Standard apps keep every other identity.
 * Pure.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type {
  DesiredIdentity,
  LogicAppObservation,
  UserAssignedIdentityObservation,
} from "../../azure/ports.ts";
import { identityTurnedOnByUs } from "../shared/ownership.ts";
import { eqi, hasSystem, type Facet } from "./decide-support.ts";
import type { BindingAction, BindingObservation } from "./model.ts";

export interface IdentityOutcome {
  facet: Facet;
  action?: BindingAction;
  principalId?: string;
  tenantId?: string;
  clientId?: string;
  identityType?: string;
  enabledByOperator?: boolean;
}

export function decideIdentity(
  binding: LogicAppIdentityBinding,
  observed: BindingObservation,
): IdentityOutcome {
  const spec = binding.spec;
  const la = observed.logicApp;
  if (!la.exists) {
    return {
      facet: {
        ok: false,
        reason: "LogicAppNotFound",
        message: `Logic App ${spec.logicAppId} does not exist`,
      },
    };
  }
  return spec.identity.type === "SystemAssigned"
    ? systemAssigned(binding, la, observed)
    : userAssigned(binding, la, observed.userAssignedIdentity, observed);
}

/** The system-assigned identity: on already, ours to turn on, or someone else's user-assigned one in the way. */
function systemAssigned(
  binding: LogicAppIdentityBinding,
  la: LogicAppObservation,
  observed: Pick<BindingObservation, "record">,
): IdentityOutcome {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const obs = la.identity;
  const record = observed.record;
  const uaIds = obs.userAssigned.map((u) => u.id);
  const consumption = la.kind === "Consumption";
  if (hasSystem(obs.type) && obs.principalId) {
    return {
      facet: { ok: true, reason: "IdentityReady", message: `system-assigned identity ${obs.principalId}` },
      principalId: obs.principalId,
      tenantId: obs.tenantId,
      identityType: "SystemAssigned",
      // A report of the record, never read back: status may be forged or lost.
      enabledByOperator: identityTurnedOnByUs(record, obs.principalId),
    };
  }
  // The user-assigned identity this binding used before the spec moved to SystemAssigned is ours to detach
  // (detaching deletes nothing); any other is someone else's.
  const ourPreviousIdentity =
    prev.identityType === "UserAssigned" &&
    obs.userAssigned.some((u) => eqi(u.principalId, prev.principalId));
  if (consumption && obs.type === "UserAssigned" && !ourPreviousIdentity) {
    return {
      facet: {
        ok: false,
        reason: "IdentityConflict",
        message:
          `Logic App ${spec.logicAppId} uses user-assigned identity ${uaIds.join(", ")}; a Consumption Logic App holds ` +
          "one identity at a time, and enabling the system-assigned one would detach it. Set spec.identity to " +
          "UserAssigned with that ID, or detach it first.",
      },
    };
  }
  const desired: DesiredIdentity =
    consumption || uaIds.length === 0
      ? { type: "SystemAssigned", userAssignedIdentityIds: [] }
      : { type: "SystemAssigned, UserAssigned", userAssignedIdentityIds: uaIds };
  // The identity was there before (status has a principal): someone turned it off. Otherwise this binding is
  // the one turning it on, and deletion should turn it off again.
  const drift =
    (prev.principalId !== undefined && prev.identityType !== "UserAssigned") ||
    (record?.identity.systemPrincipalIds.length ?? 0) > 0;
  return {
    facet: {
      ok: false,
      reason: "EnablingIdentity",
      message: drift
        ? `system-assigned identity was turned off (was ${prev.principalId}); turning it back on`
        : "turning on the system-assigned identity",
    },
    action: {
      type: "setIdentity",
      desired,
      expectedVersion: la.version,
      why: drift ? "driftRepair" : "enable",
    },
    enabledByOperator: drift ? (record?.identity.enabledByOperator ?? false) : true,
  };
}

/** The spec's user-assigned identity: attached already, ours to attach, or a system one in the way. */
function userAssigned(
  binding: LogicAppIdentityBinding,
  la: LogicAppObservation,
  uami: UserAssignedIdentityObservation | undefined,
  observed: Pick<BindingObservation, "record">,
): IdentityOutcome {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const obs = la.identity;
  const uaIds = obs.userAssigned.map((u) => u.id);
  const consumption = la.kind === "Consumption";
  const wantedId = spec.identity.userAssignedIdentityId ?? "";
  if (!uami?.exists) {
    return {
      facet: {
        ok: false,
        reason: "IdentityNotFound",
        message: `user-assigned identity ${wantedId} does not exist`,
      },
    };
  }
  const attached = obs.userAssigned.find((u) => eqi(u.id, wantedId));
  if (attached && (obs.type === "UserAssigned" || obs.type === "SystemAssigned, UserAssigned")) {
    const principalId = attached.principalId ?? uami.principalId;
    return {
      facet: { ok: true, reason: "IdentityReady", message: `user-assigned identity ${principalId}` },
      principalId,
      tenantId: uami.tenantId,
      clientId: attached.clientId ?? uami.clientId,
      identityType: "UserAssigned",
      enabledByOperator: false,
    };
  }
  // A system-assigned identity this binding turned on is ours to replace when the spec moves to a user-assigned
  // one; any other is someone else's, and replacing it would delete a principal they may rely on.
  if (consumption && hasSystem(obs.type) && !identityTurnedOnByUs(observed.record, obs.principalId)) {
    return {
      facet: {
        ok: false,
        reason: "IdentityConflict",
        message:
          `Logic App ${spec.logicAppId} has a system-assigned identity (${obs.principalId ?? "unknown"}); a Consumption ` +
          "Logic App holds one identity at a time, and attaching the user-assigned one would delete that principal. " +
          "Set spec.identity to SystemAssigned, or turn the system-assigned identity off first.",
      },
    };
  }
  const desired: DesiredIdentity = consumption
    ? { type: "UserAssigned", userAssignedIdentityIds: [wantedId] }
    : {
        type: hasSystem(obs.type) ? "SystemAssigned, UserAssigned" : "UserAssigned",
        userAssignedIdentityIds: [...uaIds, wantedId],
      };
  const drift = prev.principalId !== undefined && prev.identityType !== "SystemAssigned";
  return {
    facet: {
      ok: false,
      reason: "AttachingIdentity",
      message: drift
        ? `user-assigned identity ${wantedId} was detached; attaching it again`
        : `attaching user-assigned identity ${wantedId}`,
    },
    action: {
      type: "setIdentity",
      desired,
      expectedVersion: la.version,
      why: drift ? "driftRepair" : "attach",
    },
    enabledByOperator: false,
  };
}
