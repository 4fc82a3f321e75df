/**
 * Performs the actions `decide` asked for, in order, through the ports. Failures that decide can explain
 * (principal not replicated yet) are returned as data for the next decide; failures that need the work queue
 * (throttling, transient, access denied) stop the pass and are returned for the reconciler to raise.
 */
import type { AzureError } from "../../azure/errors.ts";
import { isAzureError } from "../../azure/errors.ts";
import type { BindingPorts } from "./gather.ts";
import type { ApplyFailure, BindingAction } from "./model.ts";

export interface AppliedEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export interface ApplyResult {
  /** Writes that took effect. */
  succeeded: BindingAction[];
  failures: Record<string, ApplyFailure>;
  createdAppRoleAssignmentIds: string[];
  events: AppliedEvent[];
  removeFinalizer: boolean;
  /** The error that stopped the pass (throttled, transient, forbidden...), if any. */
  stoppedBy?: AzureError | Error;
}

export async function apply(
  actions: readonly BindingAction[],
  ports: BindingPorts,
  logicAppId: string,
): Promise<ApplyResult> {
  const result: ApplyResult = {
    succeeded: [],
    failures: {},
    createdAppRoleAssignmentIds: [],
    events: [],
    removeFinalizer: false,
  };
  for (const action of actions) {
    try {
      switch (action.type) {
        case "setIdentity": {
          const after = await ports.logicApps.setIdentity(logicAppId, action.desired, action.expectedVersion);
          const reason = {
            enable: "IdentityEnabled",
            attach: "IdentityAttached",
            driftRepair: "DriftRepaired",
            disableOnDelete: "IdentityDisabled",
          }[action.why];
          result.events.push({
            type: "Normal",
            reason,
            note: `identity of ${logicAppId} set to ${action.desired.type}${after.identity.principalId ? ` (principal ${after.identity.principalId})` : ""}`,
          });
          break;
        }
        case "createRoleAssignment":
          try {
            await ports.roleAssignments.create(action);
            result.events.push({
              type: "Normal",
              reason: action.driftRepair ? "DriftRepaired" : "Granted",
              note: `role ${action.roleDefinitionId.split("/").pop()} granted to ${action.principalId} at ${action.scope}`,
            });
          } catch (e) {
            if (isAzureError(e, "Exists")) {
              // Someone else made the same grant under another name: the next gather adopts it.
              result.events.push({
                type: "Normal",
                reason: "Adopted",
                note: `existing role assignment at ${action.scope} adopted (not ours to revoke)`,
              });
              break;
            }
            if (isAzureError(e, "PrincipalNotFound")) {
              result.failures[action.key] = {
                reason: "WaitingForPrincipalReplication",
                message: `principal ${action.principalId} not replicated to Azure RBAC yet; retrying`,
              };
              continue;
            }
            throw e;
          }
          break;
        case "deleteRoleAssignment":
          await ports.roleAssignments.delete(action.id);
          result.events.push({
            type: "Normal",
            reason: action.why === "orphaned" ? "OrphanSwept" : "Revoked",
            note: `role assignment ${action.id.split("/").pop()} of ${action.principalId} deleted (${action.why})`,
          });
          break;
        case "createAppRoleAssignment":
          try {
            const created = await ports.graph.createAppRoleAssignment(
              action.resourceId,
              action.principalId,
              action.appRoleId,
            );
            result.createdAppRoleAssignmentIds.push(created.id);
            result.events.push({
              type: "Normal",
              reason: action.driftRepair ? "DriftRepaired" : "Granted",
              note: `app role ${action.appRoleId} on ${action.resourceId} granted to ${action.principalId}`,
            });
          } catch (e) {
            if (isAzureError(e, "Exists")) break;
            if (isAzureError(e, "PrincipalNotFound")) {
              result.failures[action.key] = {
                reason: "WaitingForPrincipalReplication",
                message: `principal ${action.principalId} not replicated to Microsoft Graph yet; retrying`,
              };
              continue;
            }
            throw e;
          }
          break;
        case "deleteAppRoleAssignment":
          await ports.graph.deleteAppRoleAssignment(action.resourceId, action.id);
          result.events.push({
            type: "Normal",
            reason: action.why === "orphaned" ? "OrphanSwept" : "Revoked",
            note: `app role assignment ${action.id} of ${action.principalId} deleted (${action.why})`,
          });
          break;
        case "removeFinalizer":
          result.removeFinalizer = true;
          break;
      }
      result.succeeded.push(action);
    } catch (e) {
      result.stoppedBy = e instanceof Error ? e : new Error(String(e));
      break;
    }
  }
  return result;
}
