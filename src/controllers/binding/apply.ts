/**
 * Performs the actions `decide` asked for, in order, through the ports, and says what each did as data. Failures
 * that decide can explain (principal not replicated yet) are deferred for the next decide; failures that need the
 * work queue (throttling, transient, access denied) stop the round and go to the engine.
 */
import { isAzureError } from "../../azure/errors.ts";
import type { CallOptions } from "../../azure/ports.ts";
import type { ActionResult, Applied, Report } from "../shared/rounds.ts";
import type { BindingPorts } from "./gather.ts";
import type { ApplyFailure, BindingAction } from "./model.ts";

export interface BindingApplied extends Applied<BindingAction> {
  /** Why deferred writes did not take effect, keyed by grant key, for the next gather. */
  failures: Record<string, ApplyFailure>;
  /** Graph assignments carry no name to tell ours by: the IDs this pass created. */
  createdAppRoleAssignmentIds: string[];
}

const replicating = (principal: string, service: string): ApplyFailure => ({
  reason: "WaitingForPrincipalReplication",
  message: `principal ${principal} not replicated to ${service} yet; retrying`,
});

export async function apply(
  actions: readonly BindingAction[],
  ports: BindingPorts,
  logicAppId: string,
  call: CallOptions = {},
): Promise<BindingApplied> {
  const out: BindingApplied = { results: [], failures: {}, createdAppRoleAssignmentIds: [] };
  for (const action of actions) {
    try {
      out.results.push(await applyOne(action, ports, logicAppId, call, out));
    } catch (e) {
      out.stoppedBy = e instanceof Error ? e : new Error(String(e));
      break;
    }
  }
  return out;
}

async function applyOne(
  action: BindingAction,
  ports: BindingPorts,
  logicAppId: string,
  call: CallOptions,
  out: BindingApplied,
): Promise<ActionResult<BindingAction>> {
  switch (action.type) {
    case "setIdentity": {
      const after = await ports.logicApps.setIdentity(
        logicAppId,
        action.desired,
        action.expectedVersion,
        call,
      );
      const p = after.identity.principalId;
      return { action, outcome: "done", ...(p ? { detail: p } : {}) };
    }
    case "createRoleAssignment":
    case "createAppRoleAssignment":
      try {
        // The created ID goes into the ownership record (../binding/ownership.ts).
        if (action.type === "createRoleAssignment") {
          const created = await ports.roleAssignments.create(action, call);
          return { action, outcome: "done", detail: created.id };
        }
        const created = await ports.graph.createAppRoleAssignment(
          action.resourceId,
          action.principalId,
          action.appRoleId,
          call,
        );
        out.createdAppRoleAssignmentIds.push(created.id);
        return { action, outcome: "done", detail: created.id };
      } catch (e) {
        // Someone else made the same grant (another name, or Graph's duplicate): the next gather adopts it.
        if (isAzureError(e, "Exists")) return { action, outcome: "adopted" };
        if (!isAzureError(e, "PrincipalNotFound")) throw e;
        out.failures[action.key] = replicating(
          action.principalId,
          action.type === "createRoleAssignment" ? "Azure RBAC" : "Microsoft Graph",
        );
        return { action, outcome: "deferred" };
      }
    case "deleteRoleAssignment":
      await ports.roleAssignments.delete(action.id, call);
      return { action, outcome: "done" };
    case "deleteAppRoleAssignment":
      await ports.graph.deleteAppRoleAssignment(action.resourceId, action.id, call);
      return { action, outcome: "done" };
    case "putConnectionAccessPolicy":
    case "deleteConnectionAccessPolicy": {
      // decide asks for these only when gather read the connections through this port.
      const connections = ports.connections;
      if (!connections) return { action, outcome: "deferred" };
      if (action.type === "deleteConnectionAccessPolicy") {
        await connections.deleteAccessPolicy(action.connectionId, action.name, call);
        return { action, outcome: "done" };
      }
      const p = await connections.putAccessPolicy(
        action.connectionId,
        action.name,
        { objectId: action.principalId, tenantId: action.tenantId },
        action.location,
        call,
      );
      return { action, outcome: "done", detail: p.id };
    }
  }
}

const IDENTITY_REASON = {
  enable: "IdentityEnabled",
  attach: "IdentityAttached",
  driftRepair: "DriftRepaired",
  disableOnDelete: "IdentityDisabled",
} as const;

/** What one result means to a person (Event) and to the dashboards (metric). Pure. */
export function report(r: ActionResult<BindingAction>, logicAppId: string): Report {
  const a = r.action;
  if (r.outcome === "deferred") return {};
  switch (a.type) {
    case "setIdentity":
      return {
        event: {
          type: "Normal",
          reason: IDENTITY_REASON[a.why],
          note: `identity of ${logicAppId} set to ${a.desired.type}${r.detail ? ` (principal ${r.detail})` : ""}`,
        },
        ...(a.why === "driftRepair" ? { metric: { name: "driftRepaired", facet: "identity" } } : {}),
      };
    case "createRoleAssignment":
      if (r.outcome === "adopted") {
        return {
          event: {
            type: "Normal",
            reason: "Adopted",
            note: `existing role assignment at ${a.scope} adopted (not ours to revoke)`,
          },
        };
      }
      return {
        event: {
          type: "Normal",
          reason: a.driftRepair ? "DriftRepaired" : "Granted",
          note: `role ${a.roleDefinitionId.split("/").pop()} granted to ${a.principalId} at ${a.scope}`,
        },
        ...(a.driftRepair ? { metric: { name: "driftRepaired", facet: "rbac" } } : {}),
      };
    case "createAppRoleAssignment":
      if (r.outcome === "adopted") return {};
      return {
        event: {
          type: "Normal",
          reason: a.driftRepair ? "DriftRepaired" : "Granted",
          note: `app role ${a.appRoleId} on ${a.resourceId} granted to ${a.principalId}`,
        },
        ...(a.driftRepair ? { metric: { name: "driftRepaired", facet: "graph" } } : {}),
      };
    case "deleteRoleAssignment":
    case "deleteAppRoleAssignment": {
      const what = a.type === "deleteRoleAssignment" ? "role assignment" : "app role assignment";
      const id = a.type === "deleteRoleAssignment" ? a.id.split("/").pop() : a.id;
      return {
        event: {
          type: "Normal",
          reason: a.why === "orphaned" ? "OrphanSwept" : "Revoked",
          note: `${what} ${id} of ${a.principalId} deleted (${a.why})`,
        },
        ...(a.why === "orphaned"
          ? { metric: { name: "healed", facet: a.type === "deleteRoleAssignment" ? "rbac" : "graph" } }
          : {}),
      };
    }
    case "putConnectionAccessPolicy":
      return {
        event: {
          type: "Normal",
          reason: "ConnectionAccessGranted",
          note: `access policy ${a.name} on connection ${a.connectionId} now names principal ${a.principalId}`,
        },
      };
    case "deleteConnectionAccessPolicy":
      return {
        event: {
          type: "Normal",
          reason: a.why === "stale" ? "OrphanSwept" : "ConnectionAccessRemoved",
          note: `access policy ${a.name} (principal ${a.principalId}) that this binding made removed from connection ${a.connectionId} (${a.why})`,
        },
        ...(a.why === "stale" ? { metric: { name: "healed" as const, facet: "connection" } } : {}),
      };
  }
}
