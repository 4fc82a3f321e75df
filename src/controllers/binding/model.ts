/**
 * What the binding reconciler gathers from Azure for one pass, and the actions `decide` can ask for.
 * Plain data only: this module is shared by gather (I/O), decide (pure) and apply (I/O).
 */
import type {
  AppRoleAssignment,
  DesiredIdentity,
  LogicAppObservation,
  RoleAssignment,
  RoleDefinition,
  ServicePrincipal,
  UserAssignedIdentityObservation,
} from "../../azure/ports.ts";
import type { BindingRecord } from "../shared/ownership.ts";
import type { DenyReason } from "../tenancy/authorize.ts";
import type { BoundApi, MsiConnection, WorkflowDefinitionInput } from "./workflow-check.ts";

export interface RoleGrantObservation {
  scope: string;
  role: string;
  /** undefined: the role does not exist at the scope (or `problem` says why it could not be read). */
  definition: RoleDefinition | undefined;
  /** A failure a person must fix: the scope does not exist, or the operator may not read it. */
  problem?: { reason: "InvalidScope" | "AccessDenied"; message: string };
}

export interface ApiObservation {
  api: string;
  servicePrincipal: ServicePrincipal | undefined;
  /** Set when the SP was found only under a near-miss identifier URI (e.g. without the trailing slash). */
  nearMissIdentifierUri?: string;
  problem?: { reason: "AccessDenied"; message: string };
}

/** Why a write in the previous apply round did not take effect, keyed by grant key. */
export type ApplyFailure = {
  reason: "WaitingForPrincipalReplication" | "Throttled" | "Failed";
  message: string;
};

export interface BindingObservation {
  logicApp: LogicAppObservation;
  /** Only when spec.identity is UserAssigned. */
  userAssignedIdentity?: UserAssignedIdentityObservation;
  roles: RoleGrantObservation[];
  /**
   * Role assignments held by principals this binding cares about (current and, during a heal, previous), at the
   * spec's scopes and the scopes recorded in status, as listed by the role assignment port.
   */
  roleAssignments: RoleAssignment[];
  apis: ApiObservation[];
  /**
   * appRoleAssignedTo of every API service principal in the spec or in status, keyed by the SP's object ID
   * (lower case). A missing key means it could not be read.
   */
  appRoleAssignments: Record<string, AppRoleAssignment[]>;
  /** IDs of Graph assignments created earlier in this reconcile (Graph assignments carry no name to tell by). */
  createdAppRoleAssignmentIds: string[];
  /** Failures of writes made earlier in this reconcile, so conditions can explain them. */
  applyFailures: Record<string, ApplyFailure>;
  /**
   * This binding's ownership record (taken over and with intents resolved), the only source besides Azure's own
   * markers for what it may delete (docs/ownership.md). Undefined: nothing recorded, so nothing listed is ours.
   */
  record?: BindingRecord;
  /**
   * Grants this binding's record held before this pass that Azure no longer shows (lower-case
   * `rbac|scope|roleDefinitionGuid|principal` and `graph|resourceId|appRoleId|principal`): putting one back is a
   * drift repair, known from the record even when the cached status is older than the last Ready write.
   */
  lostGrants?: string[];
  /** Where role assignments were listed (lower case), so a recorded one missing there is known to be gone. */
  listedRoleAssignments?: { scopes: string[]; principals: string[] };
  /** "namespace/name" of the binding holding this Logic App's claim, when it is not this one: write nothing. */
  claimedBy?: string;
  /** Other bindings (any namespace) naming the same Logic App: its identity stays on while any of them exists. */
  othersOnLogicApp?: number;
  /** The tenancy matcher's refusals of the spec (AzureAccessPolicy); absent when tenancy is not wired (converge). */
  tenancy?: BindingVerdicts;
  /** What the workflow check and the connections step read; absent when the ports are not wired. */
  workflows?: WorkflowsObservation;
}

/** The bound Logic App's workflows and connections, as ./gather-workflows.ts read them (docs/workflow-check.md). */
export interface WorkflowsObservation {
  kind: "Consumption" | "Standard";
  /** undefined: not readable this pass (`problem` says why) or the Logic App is gone. */
  definitions?: WorkflowDefinitionInput[];
  problem?: string;
  /** The binding's APIs as the check compares them (identifier URIs, appId, token version when known). */
  apis: BoundApi[];
  /**
   * Gateway hosts (lower case) of the APIM services of the ApimJwtPolicies that reference the binding: an action
   * calling one of the binding's APIs elsewhere bypasses their validate-jwt rule. Empty: no such policy (or none
   * readable), so the host is not compared.
   */
  gatewayHosts?: string[];
  /** Connections that authenticate with the managed identity, from `$connections` or `connections.json`. */
  msiConnections: MsiConnection[];
  /** Standard: the V2 connections this binding keeps an access policy on (spec ∪ discovered), with what Azure holds. */
  connections: ConnectionObservation[];
}

export interface ConnectionObservation {
  connectionId: string;
  /** Where it came from, for messages. */
  source: "spec" | "connections.json" | "$connections" | "record";
  exists: boolean;
  location?: string;
  createdTime?: string;
  /** "V1" (Consumption) or "V2" (Standard) when Azure reports it. */
  kind?: string;
  /** undefined: not listed (the connection is gone or could not be read). */
  accessPolicies?: { name: string; objectId: string }[];
  /** The AzureAccessPolicy refusal, when the namespace may not use this connection. */
  refusal?: Refusal;
  problem?: string;
}

/** A request the tenancy matcher refused, as decide reports it (Stalled with this reason and message). */
export interface Refusal {
  reason: DenyReason;
  /** The policy field or built-in rule that refused, e.g. `spec.roles`. */
  rule: string;
  message: string;
}

/** The matcher's verdicts on one binding's spec; an entry missing from a map is allowed (or not resolved yet). */
export interface BindingVerdicts {
  /** Binding the Logic App and turning on / attaching its identity: refused means no identity write, no grant. */
  identity?: Refusal;
  /** By roleKey. */
  roles: Record<string, Refusal>;
  /** By appRoleKey. */
  apps: Record<string, Refusal>;
}

export type BindingAction =
  | {
      type: "setIdentity";
      desired: DesiredIdentity;
      expectedVersion?: string;
      why: "enable" | "attach" | "driftRepair" | "disableOnDelete";
    }
  | {
      type: "createRoleAssignment";
      key: string;
      scope: string;
      name: string;
      roleDefinitionId: string;
      principalId: string;
      description: string;
      driftRepair: boolean;
    }
  | {
      type: "deleteRoleAssignment";
      key: string;
      id: string;
      principalId: string;
      why: "removedFromSpec" | "orphaned" | "deleted";
    }
  | {
      type: "createAppRoleAssignment";
      key: string;
      resourceId: string;
      principalId: string;
      appRoleId: string;
      driftRepair: boolean;
    }
  | {
      type: "deleteAppRoleAssignment";
      key: string;
      resourceId: string;
      id: string;
      principalId: string;
      why: "removedFromSpec" | "orphaned" | "deleted";
    }
  | {
      /** An access policy for the current principal on a V2 connection (deterministic name, recorded first). */
      type: "putConnectionAccessPolicy";
      key: string;
      connectionId: string;
      name: string;
      principalId: string;
      tenantId: string;
      location: string;
    }
  | {
      /** A policy this binding's record lists for a principal that is no longer the current one. */
      type: "deleteConnectionAccessPolicy";
      key: string;
      connectionId: string;
      name: string;
      principalId: string;
      /** stale: a previous principal's; unwanted: the connection left the spec; deleted: the binding is deleted. */
      why: "stale" | "unwanted" | "deleted";
    };

/**
 * The deterministic names decide needs (azure/naming.ts hashes with node:crypto, so the kind passes them in and
 * decide stays pure all the way down).
 */
export interface BindingNaming {
  roleAssignmentName(scope: string, roleDefinitionId: string, principalId: string): string;
  ownershipMarker(namespace: string, name: string, uid: string): string;
}

export function lostRbacKey(scope: string, roleDefinitionId: string, principalId: string): string {
  return `rbac|${scope}|${roleDefinitionId.split("/").pop()}|${principalId}`.toLowerCase();
}

export function lostGraphKey(resourceId: string, appRoleId: string, principalId: string): string {
  return `graph|${resourceId}|${appRoleId}|${principalId}`.toLowerCase();
}

export function roleKey(scope: string, role: string): string {
  return `rbac|${scope.toLowerCase()}|${role.toLowerCase()}`;
}

export function appRoleKey(api: string, appRole: string): string {
  return `graph|${api.toLowerCase()}|${appRole}`;
}
