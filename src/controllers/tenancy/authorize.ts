/**
 * The tenancy matcher: may this namespace make the operator do this in Azure? Pure, on resolved values (role
 * definition GUIDs and permissions, service principal IDs and owner tenants), so that what admission could not
 * see (a role name, an app role of a service principal) is decided here, before anything is written.
 *
 * Rules, in order: an invalid ID is refused; a namespace no policy selects may do nothing (fail closed); the
 * built-in denials (privileged roles, broad roles at subscription scope, Microsoft first-party APIs) hold unless a
 * selecting policy names the exact GUID / appId+value; otherwise ONE selecting policy must allow the whole request
 * (scope and role together), and the union over selecting policies is taken request by request.
 */
import {
  ACCESS_POLICY_KIND,
  ANY_APP_ROLE,
  DEFAULT_APIM_TARGETS,
  type ApimTargetKind,
  type AzureAccessPolicy,
  type NamespaceSelection,
} from "../../api/v1alpha1/access-policy.ts";
import { isWithin, notBroaderThan, parseArmId, type ArmId, type Breadth } from "../../api/v1alpha1/arm-id.ts";
import {
  canGrantAccess,
  FIRST_PARTY_APP_IDS,
  GRAPH_APP_ID,
  isBroad,
  KNOWN_ROLES,
  MICROSOFT_TENANT_IDS,
  PRIVILEGED_ROLE_GUIDS,
  type RolePermission,
} from "./builtins.ts";

export type ApimTarget =
  | { kind: "Global" }
  | { kind: "Product"; productId: string }
  | { kind: "Api"; apiId: string }
  | { kind: "Operation"; apiId: string; operationId: string };

/** One thing the operator is about to do in Azure for an object, with every name already resolved. */
export type AccessRequest =
  | { kind: "bindLogicApp"; logicAppId: string }
  | { kind: "enableIdentity"; logicAppId: string }
  | { kind: "attachIdentity"; identityId: string }
  | {
      kind: "grantRole";
      scope: string;
      roleDefinitionGuid: string;
      /** Display name, for messages only: roles are compared by GUID. */
      roleName?: string;
      /** The role definition's permissions. Required unless the GUID is a well-known built-in role. */
      permissions?: readonly RolePermission[];
    }
  | {
      kind: "grantAppRole";
      /** The API as the spec names it (appId or identifier URI), for messages. */
      api?: string;
      appId: string;
      servicePrincipalId: string;
      /** The service principal's appOwnerOrganizationId; null when it has none. */
      appOwnerOrganizationId?: string | null;
      identifierUris?: readonly string[];
      value: string;
    }
  | { kind: "apimRule"; serviceId: string; target: ApimTarget }
  /** Declare (create, adopt or change) an Entra app registration answering to this identifier URI. */
  | { kind: "declareApiRegistration"; identifierUri: string }
  /**
   * Let the Logic App's identity use a managed API connection (an access policy on it, issue 14). Access to a
   * resource is what `spec.scopes` governs, so the connection must lie within one of them.
   */
  | { kind: "useConnection"; connectionId: string };

export const DenyReasons = [
  "NoAccessPolicy",
  "NotAllowed",
  "PrivilegedRole",
  "ScopeTooBroad",
  "FirstPartyApi",
  "InvalidArmId",
  "RoleNotResolved",
] as const;
export type DenyReason = (typeof DenyReasons)[number];

export type Verdict =
  | { allowed: true; /** Policies that allow it (empty in permissive mode). */ policies: string[] }
  | {
      allowed: false;
      reason: DenyReason;
      /** The rule that refused: a policy field such as `spec.roles`, or a built-in rule `builtin:...`. */
      rule: string;
      message: string;
    };

export type TenancyMode = "enforce" | "permissive";

export interface TenancyInput {
  policies: readonly AzureAccessPolicy[];
  namespace: { name: string; labels?: Readonly<Record<string, string>> };
  /** Role names in policies resolved to GUIDs (lower-case name → GUID); built-in names are known already. */
  roleNameGuids?: ReadonlyMap<string, string>;
  mode?: TenancyMode;
}

const ASK = `ask a cluster administrator for an ${ACCESS_POLICY_KIND} that allows it`;

/** Whether a policy's namespace selection covers a namespace (Kubernetes label-selector semantics). */
export function selectsNamespace(
  sel: NamespaceSelection,
  ns: { name: string; labels?: Readonly<Record<string, string>> },
): boolean {
  if (sel.names?.includes(ns.name)) return true;
  if (!sel.selector) return false;
  const labels = ns.labels ?? {};
  const { matchLabels = {}, matchExpressions = [] } = sel.selector;
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  return matchExpressions.every((e) => {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    switch (e.operator) {
      case "In":
        return inValues;
      case "NotIn":
        return !inValues;
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
    }
    return false;
  });
}

export function selectingPolicies(input: TenancyInput): AzureAccessPolicy[] {
  return input.policies
    .filter((p) => !p.metadata.deletionTimestamp && selectsNamespace(p.spec.namespaces, input.namespace))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A policy's role entry (name, GUID or role definition ID) as a GUID, or undefined if it names nothing known. */
export function roleEntryGuid(entry: string, names?: ReadonlyMap<string, string>): string | undefined {
  const last = entry.split("/").at(-1) ?? "";
  if (entry.includes("/")) return GUID_RE.test(last) ? last.toLowerCase() : undefined;
  if (GUID_RE.test(entry)) return entry.toLowerCase();
  const key = entry.toLowerCase();
  return names?.get(key)?.toLowerCase() ?? KNOWN_ROLES.find((r) => r.name.toLowerCase() === key)?.guid;
}

function deny(reason: DenyReason, rule: string, message: string): Verdict {
  return { allowed: false, reason, rule, message };
}

function allow(policies: readonly AzureAccessPolicy[]): Verdict {
  return { allowed: true, policies: policies.map((p) => p.metadata.name) };
}

function parsed(id: string, what: string): ArmId | Verdict {
  const r = parseArmId(id);
  return r.ok
    ? r.id
    : deny("InvalidArmId", "builtin:canonical-arm-id", `${what} ${JSON.stringify(id)}: ${r.error}`);
}

const isVerdict = (x: ArmId | Verdict): x is Verdict => "allowed" in x;
const within = (id: ArmId, list: readonly string[] | undefined) => (list ?? []).some((p) => isWithin(id, p));

/**
 * Whether an identifier URI falls under a policy's prefix, at a path boundary and case-sensitively (tokens carry
 * the URI verbatim): `api://orders` covers `api://orders` and `api://orders/v2`, never `api://orders-admin`.
 */
export function uriWithin(uri: string, prefix: string): boolean {
  if (uri === prefix) return true;
  const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
  return uri.startsWith(base);
}

/** Decides one request. */
export function authorize(input: TenancyInput, request: AccessRequest): Verdict {
  if (input.mode === "permissive") return { allowed: true, policies: [] };
  const v = decideRequest(input, request);
  return !v.allowed && v.reason === "InvalidArmId"
    ? {
        ...v,
        message: `namespace ${JSON.stringify(input.namespace.name)} may not use a non-canonical ARM ID: ${v.message}`,
      }
    : v;
}

function decideRequest(input: TenancyInput, request: AccessRequest): Verdict {
  const ns = input.namespace.name;
  const selecting = selectingPolicies(input);
  const who = `namespace ${JSON.stringify(ns)}`;
  const none = (what: string) =>
    deny(
      "NoAccessPolicy",
      "builtin:fail-closed",
      `${who} may not ${what}: no ${ACCESS_POLICY_KIND} selects this namespace (${ASK})`,
    );

  switch (request.kind) {
    case "bindLogicApp":
    case "enableIdentity": {
      const id = parsed(request.logicAppId, "Logic App");
      if (isVerdict(id)) return id;
      const what =
        request.kind === "bindLogicApp"
          ? `bind Logic App ${id.text}`
          : `turn on the system-assigned identity of Logic App ${id.text}`;
      if (selecting.length === 0) return none(what);
      const ok = selecting.filter((p) => within(id, p.spec.logicApps));
      return ok.length
        ? allow(ok)
        : deny(
            "NotAllowed",
            "spec.logicApps",
            `${who} may not ${what}: not in spec.logicApps of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
          );
    }
    case "attachIdentity": {
      const id = parsed(request.identityId, "user-assigned identity");
      if (isVerdict(id)) return id;
      const what = `attach user-assigned identity ${id.text}`;
      if (selecting.length === 0) return none(what);
      const ok = selecting.filter((p) => within(id, p.spec.userAssignedIdentities));
      return ok.length
        ? allow(ok)
        : deny(
            "NotAllowed",
            "spec.userAssignedIdentities",
            `${who} may not ${what}: not in spec.userAssignedIdentities of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
          );
    }
    case "grantRole":
      return authorizeRole(input, selecting, request);
    case "grantAppRole":
      return authorizeAppRole(selecting, request, who, none);
    case "declareApiRegistration": {
      const uri = request.identifierUri;
      const what = `declare an app registration with identifier URI ${JSON.stringify(uri)}`;
      if (selecting.length === 0) return none(what);
      const ok = selecting.filter((p) =>
        (p.spec.apiRegistrations?.identifierUriPrefixes ?? []).some((prefix) => uriWithin(uri, prefix)),
      );
      return ok.length
        ? allow(ok)
        : deny(
            "NotAllowed",
            "spec.apiRegistrations.identifierUriPrefixes",
            `${who} may not ${what}: not under spec.apiRegistrations.identifierUriPrefixes of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
          );
    }
    case "useConnection": {
      const id = parsed(request.connectionId, "API connection");
      if (isVerdict(id)) return id;
      const what = `give the Logic App's identity access to API connection ${id.text}`;
      if (selecting.length === 0) return none(what);
      const ok = selecting.filter((p) => within(id, p.spec.scopes));
      return ok.length
        ? allow(ok)
        : deny(
            "NotAllowed",
            "spec.scopes",
            `${who} may not ${what}: the connection is not within spec.scopes of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
          );
    }
    case "apimRule": {
      const id = parsed(request.serviceId, "API Management service");
      if (isVerdict(id)) return id;
      const t = request.target;
      const where =
        t.kind === "Global"
          ? "the global (service-wide) policy"
          : t.kind === "Product"
            ? `product ${t.productId}`
            : t.kind === "Api"
              ? `API ${t.apiId}`
              : `operation ${t.apiId}/${t.operationId}`;
      const what = `install a validate-jwt rule in ${where} of API Management service ${id.text}`;
      if (selecting.length === 0) return none(what);
      const services = selecting.filter((p) =>
        (p.spec.apimServices ?? []).some((s) => isWithin(id, s.serviceId)),
      );
      if (services.length === 0)
        return deny(
          "NotAllowed",
          "spec.apimServices",
          `${who} may not ${what}: the service is not in spec.apimServices of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
        );
      const ok = services.filter((p) =>
        (p.spec.apimServices ?? []).some(
          (s) =>
            isWithin(id, s.serviceId) &&
            (s.targets ?? DEFAULT_APIM_TARGETS).includes(t.kind as ApimTargetKind),
        ),
      );
      return ok.length
        ? allow(ok)
        : deny(
            "NotAllowed",
            "spec.apimServices[].targets",
            `${who} may not ${what}: target ${t.kind} is not in spec.apimServices[].targets` +
              (t.kind === "Global" ? " (Global is never allowed unless named)" : "") +
              ` of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
          );
    }
  }
}

function authorizeRole(
  input: TenancyInput,
  selecting: readonly AzureAccessPolicy[],
  r: Extract<AccessRequest, { kind: "grantRole" }>,
): Verdict {
  const scope = parsed(r.scope, "scope");
  if (isVerdict(scope)) return scope;
  const guid = r.roleDefinitionGuid.toLowerCase();
  const who = `namespace ${JSON.stringify(input.namespace.name)}`;
  const known = KNOWN_ROLES.find((k) => k.guid === guid);
  const label = `role ${r.roleName ?? known?.name ?? guid} (${guid})`;
  const what = `grant ${label} at ${scope.text}`;
  if (!GUID_RE.test(guid))
    return deny(
      "RoleNotResolved",
      "builtin:role-guid",
      `${who} may not ${what}: the role was not resolved to a GUID`,
    );
  if (selecting.length === 0)
    return deny(
      "NoAccessPolicy",
      "builtin:fail-closed",
      `${who} may not ${what}: no ${ACCESS_POLICY_KIND} selects this namespace (${ASK})`,
    );
  if (!r.permissions && !known)
    return deny(
      "RoleNotResolved",
      "builtin:role-permissions",
      `${who} may not ${what}: the role definition's permissions were not read, so it cannot be shown not to be privileged`,
    );

  const privileged =
    PRIVILEGED_ROLE_GUIDS.has(guid) || (r.permissions ? canGrantAccess(r.permissions) : known!.privileged);
  const broad = r.permissions ? isBroad(r.permissions) : known!.broad;
  const fitsScope = (p: AzureAccessPolicy) =>
    within(scope, p.spec.scopes) &&
    notBroaderThan(scope.breadth, (p.spec.maxScopeBreadth ?? "resourceGroup") as Breadth);
  const namesPrivileged = (p: AzureAccessPolicy) =>
    (p.spec.privilegedRoles ?? []).some((g) => g.toLowerCase() === guid);
  const privilegedOk = selecting.filter((p) => namesPrivileged(p) && fitsScope(p));

  if (privileged) {
    return privilegedOk.length
      ? allow(privilegedOk)
      : deny(
          "PrivilegedRole",
          "builtin:privileged-role",
          `${who} may not ${what}: the role can grant access to others; only its exact GUID in spec.privilegedRoles of an ${ACCESS_POLICY_KIND} selecting this namespace (with the scope in spec.scopes) allows it (${ASK})`,
        );
  }
  if (scope.breadth === "managementGroup")
    return deny(
      "ScopeTooBroad",
      "builtin:management-group",
      `${who} may not ${what}: grants at management-group scope are never allowed`,
    );
  if (broad && scope.breadth === "subscription" && privilegedOk.length === 0)
    return deny(
      "ScopeTooBroad",
      "builtin:broad-role-at-subscription",
      `${who} may not ${what}: Contributor or wider at subscription scope needs its exact GUID in spec.privilegedRoles of an ${ACCESS_POLICY_KIND} selecting this namespace (${ASK})`,
    );
  if (privilegedOk.length) return allow(privilegedOk);

  const inScopes = selecting.filter((p) => within(scope, p.spec.scopes));
  if (inScopes.length === 0)
    return deny(
      "NotAllowed",
      "spec.scopes",
      `${who} may not ${what}: the scope is not in spec.scopes of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
    );
  const narrowEnough = inScopes.filter(fitsScope);
  if (narrowEnough.length === 0)
    return deny(
      "ScopeTooBroad",
      "spec.maxScopeBreadth",
      `${who} may not ${what}: a ${scope.breadth} scope is broader than spec.maxScopeBreadth of every ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
    );
  const ok = narrowEnough.filter((p) =>
    (p.spec.roles ?? []).some((e) => roleEntryGuid(e, input.roleNameGuids) === guid),
  );
  return ok.length
    ? allow(ok)
    : deny(
        "NotAllowed",
        "spec.roles",
        `${who} may not ${what}: the role is not in spec.roles of an ${ACCESS_POLICY_KIND} selecting it that allows this scope (${ASK})`,
      );
}

function authorizeAppRole(
  selecting: readonly AzureAccessPolicy[],
  r: Extract<AccessRequest, { kind: "grantAppRole" }>,
  who: string,
  none: (what: string) => Verdict,
): Verdict {
  const appId = r.appId.toLowerCase();
  const firstParty =
    FIRST_PARTY_APP_IDS.has(appId) ||
    (r.appOwnerOrganizationId != null && MICROSOFT_TENANT_IDS.has(r.appOwnerOrganizationId.toLowerCase()));
  const api =
    appId === GRAPH_APP_ID ? `Microsoft Graph (${appId})` : `API ${r.api ?? appId} (appId ${appId})`;
  const what = `grant app role ${JSON.stringify(r.value)} of ${api}`;
  if (selecting.length === 0) return none(what);
  const ok = selecting.filter((p) =>
    (p.spec.apis ?? []).some((a) => {
      const byAppId = a.api.toLowerCase() === appId;
      const byUri = !firstParty && (r.identifierUris ?? []).includes(a.api);
      if (!byAppId && !byUri) return false;
      return a.appRoles.includes(r.value) || (!firstParty && a.appRoles.includes(ANY_APP_ROLE));
    }),
  );
  if (ok.length) return allow(ok);
  return firstParty
    ? deny(
        "FirstPartyApi",
        "builtin:first-party-api",
        `${who} may not ${what}: a Microsoft first-party API is allowed only by its exact appId and app role value in spec.apis of an ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
      )
    : deny(
        "NotAllowed",
        "spec.apis",
        `${who} may not ${what}: not in spec.apis of any ${ACCESS_POLICY_KIND} selecting it (${ASK})`,
      );
}

/** Decides every request of one object. */
export function authorizeAll(input: TenancyInput, requests: readonly AccessRequest[]): Verdict[] {
  return requests.map((r) => authorize(input, r));
}
