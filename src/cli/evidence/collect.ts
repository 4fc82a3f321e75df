/**
 * Evidence per binding, from what the cluster reports (status, the ownership record) and, with --verify, from Azure
 * re-read through the read-only ports. Nothing here writes: the source is GET/LIST only and the ports refuse writes.
 */
import type {
  ApiRegistration,
  ApimJwtPolicy,
  BindingStatus,
  LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { findCondition } from "../../api/v1alpha1/conditions.ts";
import { appRoleGrants } from "../../api/v1alpha1/binding.ts";
import type { AzurePorts } from "../../azure/ports.ts";
import { targetLabel } from "../../controllers/jwt-policy/decide.ts";
import type { BindingRecord } from "../../controllers/shared/ownership.ts";
import type {
  AccessEvidence,
  AppRoleEvidence,
  BindingEvidence,
  ConnectionEvidence,
  Evidence,
  JwtEvidence,
  RbacEvidence,
  RegistrationEvidence,
} from "./schema.ts";

/** What evidence reads from a cluster (./command.ts implements it over the API server; tests may use memory). */
export interface EvidenceSource {
  bindings(namespace: string | undefined): Promise<LogicAppIdentityBinding[]>;
  jwtPolicies(namespace: string | undefined): Promise<ApimJwtPolicy[]>;
  record(namespace: string, name: string): Promise<BindingRecord | undefined>;
  /** Every ApiRegistration (all namespaces): an app-role grant names the one that declares its API. */
  registrations(): Promise<ApiRegistration[]>;
}

const lower = (s: string | undefined) => (s ?? "").toLowerCase();
const guidOf = (id: string | undefined) => (id ? id.split("/").pop() : undefined);

function rbacOf(
  status: BindingStatus,
  record: BindingRecord | undefined,
  since: string | undefined,
): RbacEvidence[] {
  const recorded = new Set((record?.rbac ?? []).map((r) => lower(r.id)));
  return (status.roleAssignments ?? []).map((r) => ({
    scope: r.scope,
    role: r.role,
    ...(r.roleDefinitionId ? { roleDefinitionGuid: guidOf(r.roleDefinitionId)! } : {}),
    ...(r.id ? { assignmentId: r.id } : {}),
    ...(r.principalId ? { principalId: r.principalId } : {}),
    ownership: r.ownership ?? "Unknown",
    recorded: r.id !== undefined && recorded.has(lower(r.id)),
    state: r.state,
    ...(since && r.state === "Granted" ? { since } : {}),
  }));
}

/**
 * The ApiRegistration declaring a granted API: the one the grant references (same namespace, `ApiRegistration/<name>`
 * while unresolved), else one whose status names the API's service principal, appId or identifier URI.
 */
function registrationOf(
  b: LogicAppIdentityBinding,
  grant: { api: string; appRole: string; resourceId?: string | undefined },
  registrations: readonly ApiRegistration[],
): RegistrationEvidence | undefined {
  const ns = b.metadata.namespace ?? "";
  const api = lower(grant.api);
  const byRef = (b.spec.appRoleAssignments ?? [])
    .filter((g) => g.apiRegistrationRef && g.appRole === grant.appRole)
    .map((g) =>
      registrations.find(
        (r) => r.metadata.namespace === ns && r.metadata.name === g.apiRegistrationRef!.name,
      ),
    )
    .find(
      (r) =>
        r !== undefined &&
        (api === lower(`ApiRegistration/${r.metadata.name}`) ||
          lower(r.status?.appId) === api ||
          (grant.resourceId !== undefined &&
            lower(r.status?.servicePrincipalId) === lower(grant.resourceId))),
    );
  const r =
    byRef ??
    registrations.find(
      (x) =>
        x.status?.appId !== undefined &&
        ((grant.resourceId !== undefined && lower(x.status.servicePrincipalId) === lower(grant.resourceId)) ||
          lower(x.status.appId) === api ||
          (x.status.identifierUris ?? []).some((u) => lower(u) === api)),
    );
  if (!r) return undefined;
  const s = r.status;
  const roleId = s?.appRoles?.find((x) => x.value === grant.appRole)?.id;
  const uri = s?.identifierUris?.[0] ?? r.spec.identifierUris[0];
  return {
    namespace: r.metadata.namespace ?? "",
    name: r.metadata.name,
    ...(s?.appId ? { appId: s.appId } : {}),
    ...(uri ? { identifierUri: uri } : {}),
    ...(s?.tokenVersion !== undefined ? { tokenVersion: s.tokenVersion } : {}),
    ...(roleId ? { roleId } : {}),
  };
}

function appRolesOf(
  b: LogicAppIdentityBinding,
  status: BindingStatus,
  record: BindingRecord | undefined,
  since: string | undefined,
  registrations: readonly ApiRegistration[],
): AppRoleEvidence[] {
  const recorded = new Set((record?.graph ?? []).filter((g) => g.assignmentId).map((g) => g.assignmentId));
  return (status.appRoleAssignments ?? []).map((a) => {
    const registration = registrationOf(b, a, registrations);
    return {
      api: a.api,
      appRole: a.appRole,
      ...(a.appRoleId ? { appRoleId: a.appRoleId } : {}),
      ...(a.resourceId ? { resourceId: a.resourceId } : {}),
      ...(a.id ? { assignmentId: a.id } : {}),
      ...(a.principalId ? { principalId: a.principalId } : {}),
      ownership: a.ownership ?? "Unknown",
      recorded: a.id !== undefined && recorded.has(a.id),
      state: a.state,
      ...(since && a.state === "Granted" ? { since } : {}),
      ...(registration ? { registration } : {}),
    };
  });
}

/** The connection access policies the record says the operator made for this binding (issue 14). */
function connectionsOf(
  record: BindingRecord | undefined,
  principalId: string | undefined,
): ConnectionEvidence[] {
  return (record?.connectionPolicies ?? []).map((c) => ({
    connectionId: c.connectionId,
    policy: c.name,
    policyId: `${c.connectionId}/accessPolicies/${c.name}`,
    principalId: c.principalId,
    state: principalId !== undefined && lower(principalId) === lower(c.principalId) ? "Granted" : "Stale",
  }));
}

/** The rule's access verdict for the binding it pins (AccessVerified and status.accessCheck), when it reports one. */
function accessOf(p: ApimJwtPolicy): AccessEvidence | undefined {
  const c = findCondition(p.status?.conditions, "AccessVerified");
  const a = p.status?.accessCheck;
  if (!c && !a) return undefined;
  return {
    verified: c?.status ?? "Unknown",
    ...(c?.reason ? { reason: c.reason } : {}),
    ...(c?.message ? { message: c.message } : {}),
    ...(a
      ? {
          operations: a.operations,
          evaluated: a.evaluated,
          allowed: a.allowed,
          blocked: a.blocked,
          unknown: a.unknown,
        }
      : {}),
    verdicts: (a?.verdicts ?? []).map((v) => ({
      operation: v.operation,
      verdict: v.verdict,
      ...(v.message ? { message: v.message } : {}),
    })),
  };
}

/** A policy pins a binding it names in bindingRef; it admits one whose audiences (and roles, if any) it accepts. */
function jwtFor(b: LogicAppIdentityBinding, policies: readonly ApimJwtPolicy[]): JwtEvidence[] {
  const audiences = new Set(appRoleGrants(b.spec).map((g) => lower(g.api)));
  const roles = new Set(appRoleGrants(b.spec).map((g) => g.appRole));
  const out: JwtEvidence[] = [];
  for (const p of policies) {
    if (p.metadata.namespace !== b.metadata.namespace && p.spec.bindingRef) continue;
    const pins = p.spec.bindingRef?.name === b.metadata.name && p.metadata.namespace === b.metadata.namespace;
    const auds = p.spec.audiences ?? [];
    // The check computes the pinned binding's token; for a binding it only admits, its verdict says nothing.
    const access = pins ? accessOf(p) : undefined;
    const req = p.spec.requiredRoles ?? [];
    const admits =
      !pins &&
      auds.some((a) => audiences.has(lower(a))) &&
      (req.length === 0 || req.some((r) => roles.has(r)));
    if (!pins && !admits) continue;
    out.push({
      namespace: p.metadata.namespace ?? "",
      name: p.metadata.name,
      apimServiceId: p.spec.apimServiceId,
      target: targetLabel(p.spec.target),
      relation: pins ? "pins" : "admits",
      audiences: auds.length > 0 ? auds : pins ? [...new Set(appRoleGrants(b.spec).map((g) => g.api))] : [],
      roles: req,
      ...(findCondition(p.status?.conditions, "Ready")
        ? { ready: findCondition(p.status?.conditions, "Ready")!.status }
        : {}),
      ...(access ? { access } : {}),
    });
  }
  return out;
}

export async function collectEvidence(
  source: EvidenceSource,
  options: {
    namespace?: string;
    now: string;
    verify?: AzurePorts;
    progress?: (done: number, total: number) => void;
  },
): Promise<Evidence> {
  const bindings = (await source.bindings(options.namespace)).sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  const policies = await source.jwtPolicies(undefined);
  const registrations = await source.registrations();
  const out: BindingEvidence[] = [];
  let done = 0;
  for (const b of bindings) {
    options.progress?.(done++, bindings.length);
    const status = b.status ?? {};
    const record = await source.record(b.metadata.namespace ?? "", b.metadata.name);
    const ready = findCondition(status.conditions, "Ready");
    const since = ready?.status === "True" ? ready.lastTransitionTime : undefined;
    const e: BindingEvidence = {
      namespace: b.metadata.namespace ?? "",
      name: b.metadata.name,
      logicAppId: b.spec.logicAppId,
      ...(status.identityType
        ? { identityType: status.identityType }
        : { identityType: b.spec.identity.type }),
      ...(status.principalId ? { principalId: status.principalId } : {}),
      ...(status.clientId ? { clientId: status.clientId } : {}),
      ...(status.tenantId ? { tenantId: status.tenantId } : {}),
      rbac: rbacOf(status, record, since),
      appRoles: appRolesOf(b, status, record, since, registrations),
      connections: connectionsOf(record, status.principalId),
      jwtPolicies: jwtFor(b, policies),
      ...(status.lastHeal ? { lastHeal: status.lastHeal } : {}),
      conditions: (status.conditions ?? []).map((c) => ({
        type: c.type,
        status: c.status,
        reason: c.reason,
        message: c.message ?? "",
        ...(c.lastTransitionTime ? { lastTransitionTime: c.lastTransitionTime } : {}),
      })),
    };
    if (options.verify) await verify(e, b, options.verify);
    out.push(e);
  }
  options.progress?.(bindings.length, bindings.length);
  return {
    generatedAt: options.now,
    scope: options.namespace ?? "*",
    verified: options.verify !== undefined,
    bindings: out,
  };
}

/**
 * Re-reads Azure for one binding: the Logic App's identity, the access policies on the connections its record
 * lists, the role assignments of its principal at every scope the cluster reports or the spec declares, and the
 * app-role assignments on every API service principal involved.
 * A line the cluster reports that Azure lacks is MISSING; a grant Azure holds for the principal that no line
 * declares is added as UNDECLARED (an inherited assignment from a parent scope shows up here too, as it should).
 */
async function verify(e: BindingEvidence, b: LogicAppIdentityBinding, ports: AzurePorts): Promise<void> {
  const la = await ports.logicApps.observe(b.spec.logicAppId);
  const live =
    b.spec.identity.type === "SystemAssigned"
      ? la.identity.principalId
      : la.identity.userAssigned.find((u) => lower(u.id) === lower(b.spec.identity.userAssignedIdentityId))
          ?.principalId;
  e.identityVerify =
    !la.exists || !live
      ? "MISSING"
      : e.principalId && lower(live) !== lower(e.principalId)
        ? "CHANGED"
        : "OK";
  // A policy the record lists: MISSING when the connection no longer has it, CHANGED when it names another principal.
  if (ports.connections)
    for (const c of e.connections) {
      const held = (await ports.connections.listAccessPolicies(c.connectionId)).find(
        (p) => lower(p.name) === lower(c.policy),
      );
      c.verify = !held ? "MISSING" : lower(held.objectId) !== lower(c.principalId) ? "CHANGED" : "OK";
    }
  const principal = e.principalId;
  if (!principal) return;
  const scopes = new Set([
    ...e.rbac.map((r) => r.scope),
    ...(b.spec.roleAssignments ?? []).map((r) => r.scope),
  ]);
  const seen = new Map<string, { scope: string; roleDefinitionId: string; id: string }>();
  for (const scope of scopes)
    for (const a of await ports.roleAssignments.listForPrincipal(scope, principal)) seen.set(lower(a.id), a);
  for (const r of e.rbac) if (r.assignmentId) r.verify = seen.has(lower(r.assignmentId)) ? "OK" : "MISSING";
  const declared = new Set(e.rbac.map((r) => lower(r.assignmentId)));
  for (const [id, a] of seen) {
    if (declared.has(id)) continue;
    const def = await ports.roleDefinitions
      .resolve(a.scope, guidOf(a.roleDefinitionId)!)
      .catch(() => undefined);
    e.rbac.push({
      scope: a.scope,
      role: def?.roleName ?? "(not declared)",
      roleDefinitionGuid: guidOf(a.roleDefinitionId)!,
      assignmentId: a.id,
      principalId: principal,
      ownership: "Unknown",
      recorded: false,
      verify: "UNDECLARED",
    });
  }
  const resources = new Set(e.appRoles.flatMap((a) => (a.resourceId ? [a.resourceId] : [])));
  for (const resourceId of resources) {
    const listed = (await ports.graph.listAppRoleAssignedTo(resourceId)).filter(
      (x) => lower(x.principalId) === lower(principal),
    );
    const ids = new Set(listed.map((x) => x.id));
    for (const a of e.appRoles.filter((x) => x.resourceId === resourceId))
      if (a.assignmentId) a.verify = ids.has(a.assignmentId) ? "OK" : "MISSING";
    const declared2 = new Set(e.appRoles.map((a) => a.assignmentId));
    for (const x of listed.filter((l) => !declared2.has(l.id)))
      e.appRoles.push({
        api: e.appRoles.find((a) => a.resourceId === resourceId)?.api ?? resourceId,
        appRole: "(not declared)",
        appRoleId: x.appRoleId,
        resourceId,
        assignmentId: x.id,
        principalId: principal,
        ownership: "Unknown",
        recorded: false,
        verify: "UNDECLARED",
      });
  }
}
