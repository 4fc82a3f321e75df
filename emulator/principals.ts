import { compactGuid, key, newGuid } from "./ids.ts";
import type { Runtime } from "./runtime.ts";
import type { ServicePrincipalRecord } from "./state.ts";

export interface DirectoryObject {
  id: string;
  displayName: string;
  principalType: "ServicePrincipal" | "User" | "Group";
  createdAt: number;
}

/** Any directory object the tenant holds, whether or not it has replicated yet. */
export function findPrincipal(rt: Runtime, id: string): DirectoryObject | undefined {
  const sp = rt.state.servicePrincipals[id.toLowerCase()];
  if (sp)
    return {
      id: sp.id,
      displayName: sp.displayName,
      principalType: "ServicePrincipal",
      createdAt: sp.createdAt,
    };
  const user = rt.state.users[id.toLowerCase()];
  if (user)
    return {
      id: user.id,
      displayName: user.displayName,
      principalType: user.principalType ?? "User",
      createdAt: user.createdAt,
    };
  return undefined;
}

/** Whether a principal exists *and* has replicated (older than the configured replication delay). */
export function isReplicated(rt: Runtime, p: { createdAt: number }): boolean {
  return rt.now() - p.createdAt >= rt.config.replicationDelayMs;
}

/**
 * Creates the service principal Entra ID makes for a managed identity: appId = clientId, names = clientId and an
 * identity.azure.net URI, alternativeNames carry the owning resource id.
 */
export function mintManagedIdentityPrincipal(
  rt: Runtime,
  resourceId: string,
  displayName: string,
  userAssigned: boolean,
): ServicePrincipalRecord {
  const id = newGuid();
  const appId = newGuid();
  const sp: ServicePrincipalRecord = {
    id,
    appId,
    displayName,
    servicePrincipalType: "ManagedIdentity",
    servicePrincipalNames: [
      appId,
      `https://identity.azure.net/${Buffer.from(compactGuid(newGuid()), "hex").toString("base64")}`,
    ],
    alternativeNames: [`isExplicit=${userAssigned ? "True" : "False"}`, resourceId],
    appRoles: [],
    appOwnerOrganizationId: null,
    createdAt: rt.now(),
  };
  rt.state.servicePrincipals[id] = sp;
  return sp;
}

/**
 * Deletes a principal as Entra ID does: its app role assignments (granted to it, or on it as resource) go with it;
 * Azure role assignments stay behind as orphans ("Identity not found").
 */
export function deletePrincipal(rt: Runtime, id: string): void {
  delete rt.state.servicePrincipals[id.toLowerCase()];
  delete rt.state.users[id.toLowerCase()];
  for (const [k, a] of Object.entries(rt.state.appRoleAssignments)) {
    if (key(a.principalId) === key(id) || key(a.resourceId) === key(id))
      delete rt.state.appRoleAssignments[k];
  }
}
