/**
 * Reads everything one binding pass needs from Azure through the ports. Read-only by contract.
 * Costs per pass in steady state: 1 Logic App GET (+1 identity GET when user-assigned), 1 role definition lookup
 * per distinct (scope, role) (cached by the adapter), 1 role assignment list per scope, 1 service principal lookup
 * and 1 appRoleAssignedTo list per API.
 */
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { BindingRecord } from "../shared/ownership.ts";
import { isAzureError } from "../../azure/errors.ts";
import type {
  AppRoleAssignment,
  AzurePorts,
  CallOptions,
  LogicAppObservation,
  RoleAssignment,
  UserAssignedIdentityObservation,
} from "../../azure/ports.ts";
import { eqi } from "./decide-support.ts";
import type { ApiObservation, ApplyFailure, BindingObservation, RoleGrantObservation } from "./model.ts";

export type BindingPorts = Pick<
  AzurePorts,
  "logicApps" | "userAssignedIdentities" | "roleDefinitions" | "roleAssignments" | "graph"
> &
  /** The workflow check and connections (issue 14): optional, the check is skipped without them. */
  Partial<Pick<AzurePorts, "workflows" | "connections" | "applications" | "apimChain">>;

export async function gather(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  carry: { applyFailures: Record<string, ApplyFailure>; createdAppRoleAssignmentIds: string[] },
  call: CallOptions = {},
  record?: BindingRecord,
): Promise<BindingObservation> {
  const spec = binding.spec;
  const logicApp = await ports.logicApps.observe(spec.logicAppId, call);
  const userAssignedIdentity =
    spec.identity.type === "UserAssigned" && spec.identity.userAssignedIdentityId
      ? await ports.userAssignedIdentities.observe(spec.identity.userAssignedIdentityId, call)
      : undefined;
  const roles = await observeRoles(binding, ports, call);
  const principals = principalsOf(binding, logicApp, userAssignedIdentity, record);
  const listed = await listRoleAssignments(binding, principals, roles, ports, call, record);
  const apis = await observeApis(binding, ports, call);
  return {
    logicApp,
    ...(userAssignedIdentity ? { userAssignedIdentity } : {}),
    roles,
    roleAssignments: listed.assignments,
    listedRoleAssignments: { scopes: listed.scopes, principals: principals.map((p) => p.toLowerCase()) },
    apis,
    appRoleAssignments: await listAppRoleAssignments(binding, apis, ports, call, record),
    applyFailures: carry.applyFailures,
    createdAppRoleAssignmentIds: carry.createdAppRoleAssignmentIds,
  };
}

/**
 * Principals whose grants matter this pass: the current one, and any named in status or in the record (heal and
 * revocation). Status only widens what is looked at; what may be deleted is decided from Azure and the record.
 */
function principalsOf(
  binding: LogicAppIdentityBinding,
  logicApp: LogicAppObservation,
  uami: UserAssignedIdentityObservation | undefined,
  record: BindingRecord | undefined,
): string[] {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const principals = new Map<string, string>();
  const add = (p: string | undefined) => p && principals.set(p.toLowerCase(), p);
  if (logicApp.exists) {
    if (spec.identity.type === "SystemAssigned") add(logicApp.identity.principalId);
    else {
      const ua = logicApp.identity.userAssigned.find((u) => eqi(u.id, spec.identity.userAssignedIdentityId));
      add(ua?.principalId ?? (ua ? uami?.principalId : undefined));
    }
  }
  add(prev.principalId);
  add(prev.lastHeal?.previousPrincipalId);
  for (const e of [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])]) add(e.principalId);
  for (const e of [...(record?.rbac ?? []), ...(record?.graph ?? [])]) add(e.principalId);
  for (const p of record?.identity.systemPrincipalIds ?? []) add(p);
  return [...principals.values()];
}

/** Each spec role resolved at its scope, or why it could not be (a person must fix the scope or access). */
async function observeRoles(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  call: CallOptions,
): Promise<RoleGrantObservation[]> {
  const roles: RoleGrantObservation[] = [];
  for (const { scope, role } of binding.spec.roleAssignments ?? []) {
    try {
      roles.push({ scope, role, definition: await ports.roleDefinitions.resolve(scope, role, call) });
    } catch (e) {
      if (isAzureError(e, "Forbidden")) {
        const message = `the operator may not read role definitions at ${scope}: ${e.message}`;
        roles.push({ scope, role, definition: undefined, problem: { reason: "AccessDenied", message } });
      } else if (isAzureError(e, "NotFound") || isAzureError(e, "Invalid")) {
        const message = `scope ${scope} is not valid: ${e.message}`;
        roles.push({ scope, role, definition: undefined, problem: { reason: "InvalidScope", message } });
      } else throw e;
    }
  }
  return roles;
}

/** One list per (scope, principal), at the spec's scopes and those recorded in status; the filter keeps it small. */
async function listRoleAssignments(
  binding: LogicAppIdentityBinding,
  principals: string[],
  roles: RoleGrantObservation[],
  ports: BindingPorts,
  call: CallOptions,
  record: BindingRecord | undefined,
): Promise<{ assignments: RoleAssignment[]; scopes: string[] }> {
  const scopes = new Map<string, string>();
  for (const ra of binding.spec.roleAssignments ?? []) scopes.set(ra.scope.toLowerCase(), ra.scope);
  for (const e of binding.status?.roleAssignments ?? []) scopes.set(e.scope.toLowerCase(), e.scope);
  for (const e of record?.rbac ?? []) scopes.set(e.scope.toLowerCase(), e.scope);
  const listedScopes: string[] = [];
  const badScopes = new Set(roles.filter((r) => r.problem).map((r) => r.scope.toLowerCase()));
  const out: RoleAssignment[] = [];
  for (const [lower, scope] of scopes) {
    if (badScopes.has(lower)) continue;
    listedScopes.push(lower);
    for (const principal of principals) {
      try {
        out.push(...(await ports.roleAssignments.listForPrincipal(scope, principal, call)));
      } catch (e) {
        if (isAzureError(e, "NotFound")) continue; // the scope is gone: nothing is assigned there any more
        throw e;
      }
    }
  }
  return { assignments: out, scopes: listedScopes };
}

/** Each spec API's service principal, found by appId or identifier URI (and by a near miss, to warn about it). */
async function observeApis(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  call: CallOptions,
): Promise<ApiObservation[]> {
  const apis: ApiObservation[] = [];
  for (const { api } of appRoleGrants(binding.spec)) {
    if (apis.some((a) => a.api === api)) continue;
    try {
      let sp = await ports.graph.findServicePrincipal(api, call);
      let nearMissIdentifierUri: string | undefined;
      if (!sp && /^(api|https):\/\//i.test(api)) {
        // The classic trap: api://orders/ vs api://orders. Find it anyway and warn, since tokens would not match.
        const variant = api.endsWith("/") ? api.slice(0, -1) : `${api}/`;
        sp = await ports.graph.findServicePrincipal(variant, call);
        if (sp) nearMissIdentifierUri = sp.servicePrincipalNames.find((n) => eqi(n, variant)) ?? variant;
      } else if (sp && /^(api|https):\/\//i.test(api) && !sp.servicePrincipalNames.includes(api)) {
        nearMissIdentifierUri = sp.servicePrincipalNames.find((n) => eqi(n, api));
      }
      apis.push({ api, servicePrincipal: sp, ...(nearMissIdentifierUri ? { nearMissIdentifierUri } : {}) });
    } catch (e) {
      if (!isAzureError(e, "Forbidden")) throw e;
      const message = `the operator may not read service principals in Microsoft Graph: ${e.message}`;
      apis.push({ api, servicePrincipal: undefined, problem: { reason: "AccessDenied", message } });
    }
  }
  return apis;
}

/** appRoleAssignedTo of every API in the spec or in status, keyed by the SP's object ID (lower case). */
async function listAppRoleAssignments(
  binding: LogicAppIdentityBinding,
  apis: ApiObservation[],
  ports: BindingPorts,
  call: CallOptions,
  record: BindingRecord | undefined,
): Promise<Record<string, AppRoleAssignment[]>> {
  const resourceIds = new Map<string, string>();
  for (const a of apis)
    if (a.servicePrincipal) resourceIds.set(a.servicePrincipal.id.toLowerCase(), a.servicePrincipal.id);
  for (const e of binding.status?.appRoleAssignments ?? [])
    if (e.resourceId) resourceIds.set(e.resourceId.toLowerCase(), e.resourceId);
  for (const g of record?.graph ?? []) resourceIds.set(g.resourceId.toLowerCase(), g.resourceId);
  const out: Record<string, AppRoleAssignment[]> = {};
  for (const [lower, id] of resourceIds) {
    try {
      out[lower] = await ports.graph.listAppRoleAssignedTo(id, call);
    } catch (e) {
      if (!isAzureError(e, "NotFound")) throw e;
      out[lower] = []; // the API's SP is gone, and its assignments with it
    }
  }
  return out;
}
