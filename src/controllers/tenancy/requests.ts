/**
 * What each kind's spec asks the operator to do in Azure, as the matcher's requests on RESOLVED values (the role
 * definition's GUID and permissions, the API's service principal and owner tenant), and the verdicts per spec
 * entry. Pure: gather hands in what it read, decide and the guard read the verdicts.
 */
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { RoleDefinition, ServicePrincipal } from "../../azure/ports.ts";
import { appRoleKey, roleKey, type BindingVerdicts, type Refusal } from "../binding/model.ts";
import { KNOWN_ROLES } from "./builtins.ts";
import {
  authorize,
  roleEntryGuid,
  type AccessRequest,
  type ApimTarget,
  type TenancyInput,
} from "./authorize.ts";

export type { BindingVerdicts, Refusal };

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The GUID of a built-in role named by name, GUID or role definition ID; undefined for anything else. */
function knownRoleGuid(role: string): string | undefined {
  const guid = roleEntryGuid(role);
  return guid && KNOWN_ROLES.some((k) => k.guid === guid) ? guid : undefined;
}

function verdictOf(input: TenancyInput, request: AccessRequest): Refusal | undefined {
  const v = authorize(input, request);
  return v.allowed ? undefined : { reason: v.reason, rule: v.rule, message: v.message };
}

/** The identity requests of a binding spec: bind the Logic App, then turn on or attach the identity it names. */
export function identityRequests(spec: LogicAppIdentityBinding["spec"]): AccessRequest[] {
  const requests: AccessRequest[] = [{ kind: "bindLogicApp", logicAppId: spec.logicAppId }];
  if (spec.identity.type === "UserAssigned" && spec.identity.userAssignedIdentityId)
    requests.push({ kind: "attachIdentity", identityId: spec.identity.userAssignedIdentityId });
  else if (spec.identity.type === "SystemAssigned")
    requests.push({ kind: "enableIdentity", logicAppId: spec.logicAppId });
  return requests;
}

export function roleRequest(scope: string, definition: RoleDefinition): AccessRequest {
  return {
    kind: "grantRole",
    scope,
    roleDefinitionGuid: definition.name,
    roleName: definition.roleName,
    ...(definition.permissions ? { permissions: definition.permissions } : {}),
  };
}

export function appRoleRequest(api: string, sp: ServicePrincipal, value: string): AccessRequest {
  return {
    kind: "grantAppRole",
    api,
    appId: sp.appId,
    servicePrincipalId: sp.id,
    appOwnerOrganizationId: sp.appOwnerOrganizationId ?? null,
    identifierUris: sp.servicePrincipalNames,
    value,
  };
}

/**
 * Every request the binding's spec implies, decided. Roles whose definition or APIs whose service principal could
 * not be resolved get no verdict: decide already reports them (RoleNotFound, ApiNotFound) and nothing is granted.
 */
export function bindingVerdicts(
  binding: Readonly<LogicAppIdentityBinding>,
  resolved: {
    roles: readonly { scope: string; role: string; definition: RoleDefinition | undefined }[];
    apis: readonly { api: string; servicePrincipal: ServicePrincipal | undefined }[];
  },
  input: TenancyInput,
): BindingVerdicts {
  const spec = binding.spec;
  let identity: Refusal | undefined;
  for (const r of identityRequests(spec)) {
    identity = verdictOf(input, r);
    if (identity) break;
  }
  const roles: Record<string, Refusal> = {};
  for (const ra of spec.roleAssignments ?? []) {
    const def = resolved.roles.find((o) => o.scope === ra.scope && o.role === ra.role)?.definition;
    // A built-in role is known by name or GUID even where it could not be read (a scope outside reach): the
    // policy's answer comes before "not found", so a person learns first that it would not be allowed anyway.
    const known = def ? undefined : knownRoleGuid(ra.role);
    const refusal = def
      ? verdictOf(input, roleRequest(ra.scope, def))
      : known
        ? verdictOf(input, { kind: "grantRole", scope: ra.scope, roleDefinitionGuid: known })
        : undefined;
    if (refusal) roles[roleKey(ra.scope, ra.role)] = refusal;
  }
  const apps: Record<string, Refusal> = {};
  for (const ar of appRoleGrants(spec)) {
    const sp = resolved.apis.find((o) => o.api === ar.api)?.servicePrincipal;
    // An API named by appId is judged by it even when its service principal was not found (first-party rules).
    const refusal = sp
      ? verdictOf(input, appRoleRequest(ar.api, sp, ar.appRole))
      : GUID_RE.test(ar.api)
        ? verdictOf(input, {
            kind: "grantAppRole",
            api: ar.api,
            appId: ar.api.toLowerCase(),
            servicePrincipalId: "",
            value: ar.appRole,
          })
        : undefined;
    if (refusal) apps[appRoleKey(ar.api, ar.appRole)] = refusal;
  }
  return { ...(identity ? { identity } : {}), roles, apps };
}

/** Role names a policy may use that this pass resolved (custom roles have no fixed GUID). */
export function roleNameGuids(definitions: readonly (RoleDefinition | undefined)[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const d of definitions) if (d) m.set(d.roleName.toLowerCase(), d.name.toLowerCase());
  return m;
}

/** The APIM target of a JWT policy spec, as the matcher names it. */
export function apimTargetOf(spec: ApimJwtPolicy["spec"]): ApimTarget {
  const t = spec.target;
  if (t?.apiId && t.operationId) return { kind: "Operation", apiId: t.apiId, operationId: t.operationId };
  if (t?.apiId) return { kind: "Api", apiId: t.apiId };
  if (t?.productId) return { kind: "Product", productId: t.productId };
  return { kind: "Global" };
}

export function jwtPolicyVerdict(policy: Readonly<ApimJwtPolicy>, input: TenancyInput): Refusal | undefined {
  return verdictOf(input, {
    kind: "apimRule",
    serviceId: policy.spec.apimServiceId,
    target: apimTargetOf(policy.spec),
  });
}
