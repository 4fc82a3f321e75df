/**
 * Reads everything one binding pass needs from Azure through the ports. Read-only by contract.
 * Costs per pass in steady state: 1 Logic App GET (+1 identity GET when user-assigned), 1 role definition lookup
 * per distinct (scope, role) (cached by the adapter), 1 role assignment list per scope, 1 service principal lookup
 * and 1 appRoleAssignedTo list per API.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { isAzureError } from "../../azure/errors.ts";
import type { AppRoleAssignment, AzurePorts, CallOptions, RoleAssignment } from "../../azure/ports.ts";
import { eqi } from "./decide-support.ts";
import type { ApiObservation, ApplyFailure, BindingObservation, RoleGrantObservation } from "./model.ts";

export type BindingPorts = Pick<
  AzurePorts,
  "logicApps" | "userAssignedIdentities" | "roleDefinitions" | "roleAssignments" | "graph"
>;

export async function gather(
  binding: LogicAppIdentityBinding,
  ports: BindingPorts,
  carry: { applyFailures: Record<string, ApplyFailure>; createdAppRoleAssignmentIds: string[] },
  call: CallOptions = {},
): Promise<BindingObservation> {
  const spec = binding.spec;
  const prev = binding.status ?? {};
  const logicApp = await ports.logicApps.observe(spec.logicAppId, call);
  const userAssignedIdentity =
    spec.identity.type === "UserAssigned" && spec.identity.userAssignedIdentityId
      ? await ports.userAssignedIdentities.observe(spec.identity.userAssignedIdentityId, call)
      : undefined;

  // Principals whose grants matter this pass: the current one, and any recorded in status (heal and revocation).
  const principals = new Map<string, string>();
  const addPrincipal = (p: string | undefined) => p && principals.set(p.toLowerCase(), p);
  if (logicApp.exists) {
    if (spec.identity.type === "SystemAssigned") addPrincipal(logicApp.identity.principalId);
    else {
      const ua = logicApp.identity.userAssigned.find((u) => eqi(u.id, spec.identity.userAssignedIdentityId));
      addPrincipal(ua?.principalId ?? (ua ? userAssignedIdentity?.principalId : undefined));
    }
  }
  addPrincipal(prev.principalId);
  addPrincipal(prev.lastHeal?.previousPrincipalId);
  for (const e of [...(prev.roleAssignments ?? []), ...(prev.appRoleAssignments ?? [])])
    addPrincipal(e.principalId);

  const roles: RoleGrantObservation[] = [];
  for (const ra of spec.roleAssignments ?? []) {
    try {
      roles.push({
        scope: ra.scope,
        role: ra.role,
        definition: await ports.roleDefinitions.resolve(ra.scope, ra.role, call),
      });
    } catch (e) {
      if (isAzureError(e, "Forbidden")) {
        roles.push({
          scope: ra.scope,
          role: ra.role,
          definition: undefined,
          problem: {
            reason: "AccessDenied",
            message: `the operator may not read role definitions at ${ra.scope}: ${e.message}`,
          },
        });
      } else if (isAzureError(e, "NotFound") || isAzureError(e, "Invalid")) {
        roles.push({
          scope: ra.scope,
          role: ra.role,
          definition: undefined,
          problem: { reason: "InvalidScope", message: `scope ${ra.scope} is not valid: ${e.message}` },
        });
      } else throw e;
    }
  }

  // One list per (scope, principal): the filter keeps it to this principal's assignments.
  const scopes = new Map<string, string>();
  for (const ra of spec.roleAssignments ?? []) scopes.set(ra.scope.toLowerCase(), ra.scope);
  for (const e of prev.roleAssignments ?? []) scopes.set(e.scope.toLowerCase(), e.scope);
  const badScopes = new Set(roles.filter((r) => r.problem).map((r) => r.scope.toLowerCase()));
  const roleAssignments: RoleAssignment[] = [];
  for (const [lower, scope] of scopes) {
    if (badScopes.has(lower)) continue;
    for (const principal of principals.values()) {
      try {
        roleAssignments.push(...(await ports.roleAssignments.listForPrincipal(scope, principal, call)));
      } catch (e) {
        if (isAzureError(e, "NotFound")) continue; // the scope is gone: nothing is assigned there any more
        throw e;
      }
    }
  }

  const apis: ApiObservation[] = [];
  for (const ar of spec.appRoleAssignments ?? []) {
    if (apis.some((a) => a.api === ar.api)) continue;
    try {
      let sp = await ports.graph.findServicePrincipal(ar.api, call);
      let nearMissIdentifierUri: string | undefined;
      if (!sp && /^(api|https):\/\//i.test(ar.api)) {
        // The classic trap: api://orders/ vs api://orders. Find it anyway and warn, since tokens would not match.
        const variant = ar.api.endsWith("/") ? ar.api.slice(0, -1) : `${ar.api}/`;
        sp = await ports.graph.findServicePrincipal(variant, call);
        if (sp) nearMissIdentifierUri = sp.servicePrincipalNames.find((n) => eqi(n, variant)) ?? variant;
      } else if (sp && /^(api|https):\/\//i.test(ar.api) && !sp.servicePrincipalNames.includes(ar.api)) {
        nearMissIdentifierUri = sp.servicePrincipalNames.find((n) => eqi(n, ar.api));
      }
      apis.push({
        api: ar.api,
        servicePrincipal: sp,
        ...(nearMissIdentifierUri ? { nearMissIdentifierUri } : {}),
      });
    } catch (e) {
      if (isAzureError(e, "Forbidden")) {
        apis.push({
          api: ar.api,
          servicePrincipal: undefined,
          problem: {
            reason: "AccessDenied",
            message: `the operator may not read service principals in Microsoft Graph: ${e.message}`,
          },
        });
      } else throw e;
    }
  }

  const resourceIds = new Map<string, string>();
  for (const a of apis)
    if (a.servicePrincipal) resourceIds.set(a.servicePrincipal.id.toLowerCase(), a.servicePrincipal.id);
  for (const e of prev.appRoleAssignments ?? [])
    if (e.resourceId) resourceIds.set(e.resourceId.toLowerCase(), e.resourceId);
  const appRoleAssignments: Record<string, AppRoleAssignment[]> = {};
  for (const [lower, id] of resourceIds) {
    try {
      appRoleAssignments[lower] = await ports.graph.listAppRoleAssignedTo(id, call);
    } catch (e) {
      if (isAzureError(e, "NotFound"))
        appRoleAssignments[lower] = []; // the API's SP is gone, and its assignments with it
      else throw e;
    }
  }

  return {
    logicApp,
    ...(userAssignedIdentity ? { userAssignedIdentity } : {}),
    roles,
    roleAssignments,
    apis,
    appRoleAssignments,
    applyFailures: carry.applyFailures,
    createdAppRoleAssignmentIds: carry.createdAppRoleAssignmentIds,
  };
}
