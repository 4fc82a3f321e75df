/**
 * Ownership invariants over the emulator's world and the operator's records, for the tests of issue 11:
 * `snapshotForeign()` before a test, `checkInvariants(snapshot)` after it has converged.
 *
 * 1. Nothing foreign changed: every role assignment, app-role assignment, APIM policy document (apart from the
 *    operator's own include-fragment elements) and policy fragment that existed before the test and was not the
 *    operator's is still there, unchanged.
 * 2. No operator-made grant without a record or without a live object: an RBAC assignment whose description carries
 *    the operator's marker is listed in the record of the object the marker names, and that object exists; a Graph
 *    assignment listed in a record belongs to a live object; an operator fragment is listed in a policy record.
 * 3. No record pointing at a grant that no longer exists, and no unresolved write-ahead intent, once converged.
 * 4. No duplicate grants: (scope, role, principal) for RBAC, (resource, app role, principal) for Graph.
 * 5. No identity the operator did not turn on is turned off: a system identity or a user-assigned identity a Logic
 *    App had in the snapshot is still on (a system identity may be recreated: on, with any principal).
 *
 * For the reliability matrix (issue 16, docs/reliability.md) three more pure checks sit beside these:
 * `findUnconverged` (every object Ready, or Stalled with a reason and a message a person can act on),
 * `findStatusDisagreements` (a Ready binding's status names the principal Azure holds and the grants its record
 * holds) and `findWriteLoops` (no successful write repeated, byte for byte the same request line, without a changed
 * observation in between: a deletion of that resource, a change made behind the operator's back, or a fault that
 * may have hidden the first answer).
 *
 * The rules are the pure `findViolations`, so test/unit/invariants.test.ts can show each one fails on a world that
 * breaks it; the async wrappers only fetch.
 */
import { renderRoleAssignment } from "../../emulator/arm/authorization.ts";
import type { EmulatorControl } from "../../emulator/client.ts";
import type {
  AppRoleAssignmentRecord,
  ApplicationRecord,
  RoleAssignmentRecord,
  State,
} from "../../emulator/state.ts";
import {
  parseOwnershipMarker,
  type BindingRecord,
  type JwtPolicyRecord,
} from "../../src/controllers/shared/ownership.ts";
import { createOwnershipStores } from "../../src/controllers/shared/ownership-store.ts";
import { BINDING_RESOURCE, JWT_POLICY_RESOURCE } from "../../src/controllers/resources.ts";
import { isStatus, type KubeClient } from "../../src/runtime/client.ts";

/** The operator's fragment IDs start with this (src/azure/naming.ts fragmentId). */
export const OPERATOR_FRAGMENT_PREFIX = "laio-";

export interface ForeignSnapshot {
  roleAssignments: Record<string, RoleAssignmentRecord>;
  appRoleAssignments: Record<string, AppRoleAssignmentRecord>;
  /** serviceId|scope → the document with the operator's includes removed, whitespace-normalised. */
  policies: Record<string, string>;
  /** serviceId|fragmentId → raw XML. */
  fragments: Record<string, string>;
  /** Logic App ID (lower case) → the identities it had. Optional so hand-built snapshots stay short. */
  identities?: Record<string, { system: boolean; userAssigned: string[] }>;
  /**
   * Entra applications (object id → what an ApiRegistration could change), for issue 13's rule: the operator never
   * deletes or alters an application, or an app role, it did not create. A snapshot is taken before any
   * ApiRegistration exists, so every application in it is foreign. Optional so hand-built snapshots stay short.
   */
  applications?: Record<string, ForeignApplication>;
  /**
   * Access policies on managed API connections no binding record lists (connection id|policy name → principal
   * object id), for issue 14's rule: the operator removes only the `laio-` policies its record lists.
   */
  connectionPolicies?: Record<string, string>;
}

export interface ForeignApplication {
  displayName: string;
  identifierUris: string[];
  /** id|value|enabled of each app role, sorted. */
  appRoles: string[];
  deleted: boolean;
}

export interface RecordsView {
  bindings: { namespace: string; name: string; record: BindingRecord }[];
  jwtPolicies: { namespace: string; name: string; record: JwtPolicyRecord }[];
  /** "namespace/name" of every binding that exists. */
  liveBindings: ReadonlySet<string>;
  liveJwtPolicies: ReadonlySet<string>;
}

export interface World {
  state: State;
  records: RecordsView;
}

const lc = (s: string): string => s.toLowerCase();

/** The object id an access policy's `principal.identity.objectId` names, lower case ("" when absent). */
function principalOf(principal: unknown): string {
  const identity = (principal as { identity?: { objectId?: unknown } } | undefined)?.identity;
  return typeof identity?.objectId === "string" ? lc(identity.objectId) : "";
}

/** The full ID, as ARM (and the operator's record) spells it. */
export const roleAssignmentId = (a: RoleAssignmentRecord): string => String(renderRoleAssignment(a).id);

function operatorFragmentIds(records: RecordsView): Set<string> {
  const ids = new Set<string>();
  for (const p of records.jwtPolicies) for (const f of p.record.fragments) ids.add(lc(f.fragmentId));
  return ids;
}

function isOperatorFragment(fragmentId: string, recorded: ReadonlySet<string>): boolean {
  return recorded.has(lc(fragmentId)) || lc(fragmentId).startsWith(OPERATOR_FRAGMENT_PREFIX);
}

/** A policy document as compared for foreign changes: without the operator's includes, whitespace collapsed. */
export function foreignPolicyText(raw: string, recorded: ReadonlySet<string>): string {
  return (
    raw
      .replace(/\s*<include-fragment\s+fragment-id\s*=\s*"([^"]*)"\s*\/>/g, (whole, id: string) =>
        isOperatorFragment(id, recorded) ? "" : whole,
      )
      // Inline mode (ADR 0021): the marker comment and the one validate-jwt after it are the operator's.
      .replace(/\s*<!-- laio:ApimJwtPolicy [^>]*-->\s*<validate-jwt[\s\S]*?<\/validate-jwt>/g, "")
      .replace(/>\s+</g, "><")
      .trim()
  );
}

const applicationView = (a: ApplicationRecord): ForeignApplication => ({
  displayName: a.displayName,
  identifierUris: [...a.identifierUris].sort(),
  appRoles: a.appRoles.map((r) => `${lc(r.id)}|${r.value}|${r.isEnabled}`).sort(),
  deleted: a.deletedDateTime !== null,
});

/** connection id|policy name of every access policy a binding record lists: the operator's own. */
function recordedConnectionPolicies(records: RecordsView): Set<string> {
  const ids = new Set<string>();
  for (const b of records.bindings)
    for (const c of b.record.connectionPolicies ?? []) ids.add(`${lc(c.connectionId)}|${lc(c.name)}`);
  return ids;
}

/** The operator names its connection access policies `laio-<principal object id>` (docs/workflow-check.md). */
export const OPERATOR_CONNECTION_POLICY_PREFIX = "laio-";

function recordedGraphIds(records: RecordsView): Set<string> {
  const ids = new Set<string>();
  for (const b of records.bindings)
    for (const g of b.record.graph) if (g.assignmentId) ids.add(g.assignmentId);
  return ids;
}

/** What the operator did not make, as it is now. Pure. */
export function foreignOf(world: World): ForeignSnapshot {
  const { state, records } = world;
  const graphOurs = recordedGraphIds(records);
  const fragmentsOurs = operatorFragmentIds(records);
  const out: ForeignSnapshot = {
    roleAssignments: {},
    appRoleAssignments: {},
    policies: {},
    fragments: {},
    identities: {},
    applications: {},
    connectionPolicies: {},
  };
  for (const a of Object.values(state.applications)) out.applications![lc(a.id)] = applicationView(a);
  const connOurs = recordedConnectionPolicies(records);
  for (const c of Object.values(state.connections))
    for (const p of Object.values(c.accessPolicies))
      if (!connOurs.has(`${lc(c.id)}|${lc(p.name)}`))
        out.connectionPolicies![`${lc(c.id)}|${lc(p.name)}`] = principalOf(p.principal);
  for (const r of [...Object.values(state.workflows), ...Object.values(state.sites)])
    out.identities![lc(r.id)] = {
      system: Boolean(r.identity.systemPrincipalId),
      userAssigned: r.identity.userAssignedIds.map(lc).sort(),
    };
  for (const [k, a] of Object.entries(state.roleAssignments))
    if (!parseOwnershipMarker(a.description)) out.roleAssignments[k] = structuredClone(a);
  for (const [k, a] of Object.entries(state.appRoleAssignments))
    if (!graphOurs.has(a.id)) out.appRoleAssignments[k] = structuredClone(a);
  for (const svc of Object.values(state.apimServices)) {
    for (const [scope, p] of Object.entries(svc.policies))
      out.policies[`${lc(svc.id)}|${scope}`] = foreignPolicyText(p.raw, fragmentsOurs);
    for (const f of Object.values(svc.fragments))
      if (!isOperatorFragment(f.name, fragmentsOurs)) out.fragments[`${lc(svc.id)}|${lc(f.name)}`] = f.raw;
  }
  return out;
}

export interface CheckOptions {
  /** After convergence, records must match Azure exactly (no intents, no dangling entries). Default true. */
  converged?: boolean;
  /**
   * Check invariant 5 (identities on in the snapshot stay on). Opt-in: only valid when the snapshot was taken
   * before the operator turned any identity on (it may turn those off on Delete), as the reliability matrix does.
   */
  identities?: boolean;
}

const sameRoleAssignment = (a: RoleAssignmentRecord, b: RoleAssignmentRecord): boolean =>
  lc(a.scope) === lc(b.scope) &&
  lc(a.roleDefinitionName) === lc(b.roleDefinitionName) &&
  lc(a.principalId) === lc(b.principalId) &&
  a.description === b.description &&
  a.condition === b.condition;

const sameAppRoleAssignment = (a: AppRoleAssignmentRecord, b: AppRoleAssignmentRecord): boolean =>
  lc(a.resourceId) === lc(b.resourceId) &&
  lc(a.principalId) === lc(b.principalId) &&
  lc(a.appRoleId) === lc(b.appRoleId);

/** Every broken invariant, as a sentence naming the object. Empty when the world is sound. Pure. */
export function findViolations(before: ForeignSnapshot, world: World, options: CheckOptions = {}): string[] {
  const converged = options.converged ?? true;
  const { state, records } = world;
  const v: string[] = [];
  const recordOf = new Map(records.bindings.map((b) => [`${b.namespace}/${b.name}`, b.record]));

  // 1. Foreign things unchanged.
  for (const [k, a] of Object.entries(before.roleAssignments)) {
    const now = state.roleAssignments[k];
    if (!now) v.push(`foreign role assignment ${roleAssignmentId(a)} was deleted`);
    else if (!sameRoleAssignment(a, now))
      v.push(`foreign role assignment ${roleAssignmentId(a)} was changed`);
  }
  for (const [k, a] of Object.entries(before.appRoleAssignments)) {
    const now = state.appRoleAssignments[k];
    if (!now) v.push(`foreign app-role assignment ${a.id} was deleted`);
    else if (!sameAppRoleAssignment(a, now)) v.push(`foreign app-role assignment ${a.id} was changed`);
  }
  const now = foreignOf(world);
  for (const [k, text] of Object.entries(before.policies)) {
    if (now.policies[k] === undefined) v.push(`policy ${k} (with foreign content) was deleted`);
    else if (now.policies[k] !== text) v.push(`foreign content of policy ${k} was changed`);
  }
  for (const [k, raw] of Object.entries(before.fragments)) {
    if (now.fragments[k] === undefined) v.push(`foreign fragment ${k} was deleted`);
    else if (now.fragments[k] !== raw) v.push(`foreign fragment ${k} was changed`);
  }

  // Applications (issue 13): one that existed before any ApiRegistration is never deleted or altered.
  for (const [id, had] of Object.entries(before.applications ?? {})) {
    const nowApp = now.applications?.[id];
    if (!nowApp || (nowApp.deleted && !had.deleted)) v.push(`foreign application ${id} was deleted`);
    else if (JSON.stringify(nowApp) !== JSON.stringify(had))
      v.push(`foreign application ${id} was changed: ${JSON.stringify(had)} -> ${JSON.stringify(nowApp)}`);
  }
  // Connection access policies (issue 14): a foreign one stays, naming the same principal...
  for (const [k, principal] of Object.entries(before.connectionPolicies ?? {})) {
    const [connId, name] = k.split("|") as [string, string];
    const live = state.connections[connId]?.accessPolicies[name];
    if (state.connections[connId] && !live) v.push(`foreign connection access policy ${k} was deleted`);
    else if (live && principalOf(live.principal) !== principal)
      v.push(`foreign connection access policy ${k} was re-pointed`);
  }
  // ...and once converged no laio- policy of ours names a principal no Logic App holds any more (a stale one left
  // after the identity was recreated), nor does a record list a policy that is gone.
  if (converged) {
    const principals = new Set<string>();
    for (const r of [...Object.values(state.workflows), ...Object.values(state.sites)])
      if (r.identity.systemPrincipalId) principals.add(lc(r.identity.systemPrincipalId));
    for (const u of Object.values(state.userAssignedIdentities)) principals.add(lc(u.principalId));
    const recorded = recordedConnectionPolicies(records);
    for (const c of Object.values(state.connections))
      for (const p of Object.values(c.accessPolicies)) {
        const k = `${lc(c.id)}|${lc(p.name)}`;
        const ours = recorded.has(k) || lc(p.name).startsWith(OPERATOR_CONNECTION_POLICY_PREFIX);
        if (ours && !(before.connectionPolicies ?? {})[k] && !principals.has(principalOf(p.principal)))
          v.push(`stale connection access policy ${k} names a principal no Logic App holds`);
      }
    for (const b of records.bindings)
      for (const c of b.record.connectionPolicies ?? [])
        if (!state.connections[lc(c.connectionId)]?.accessPolicies[lc(c.name)])
          v.push(
            `record of ${b.namespace}/${b.name} lists connection access policy ${c.name}, which does not exist`,
          );
  }

  // 5. Identities on before are still on (a deleted Logic App is not the operator's doing: it never deletes one).
  for (const [id, had] of Object.entries(options.identities ? (before.identities ?? {}) : {})) {
    const nowId = now.identities?.[id];
    if (!nowId) continue;
    if (had.system && !nowId.system) v.push(`system identity of ${id}, on before, was turned off`);
    for (const u of had.userAssigned)
      if (!nowId.userAssigned.includes(u)) v.push(`user-assigned identity ${u} was detached from ${id}`);
  }

  // 2. Operator-made grants have a record and a live owner.
  const liveRbacIds = new Set<string>();
  for (const a of Object.values(state.roleAssignments)) {
    const id = roleAssignmentId(a);
    liveRbacIds.add(lc(id));
    const marker = parseOwnershipMarker(a.description);
    if (!marker) continue;
    const owner = `${marker.namespace}/${marker.name}`;
    if (!records.liveBindings.has(owner))
      v.push(`operator role assignment ${id} names ${owner}, which does not exist`);
    const rec = recordOf.get(owner);
    if (converged && !rec?.rbac.some((r) => lc(r.id) === lc(id)))
      v.push(`operator role assignment ${id} (marker ${owner}) is in no record`);
  }
  const liveGraph = new Map(Object.values(state.appRoleAssignments).map((a) => [a.id, a]));
  for (const b of records.bindings) {
    const key = `${b.namespace}/${b.name}`;
    const hasGrants = b.record.graph.length > 0 || b.record.rbac.length > 0;
    if (!records.liveBindings.has(key) && (converged || hasGrants))
      v.push(`record of binding ${key} outlives the binding${hasGrants ? " and still lists grants" : ""}`);
    // 3. Records point only at live grants.
    for (const g of b.record.graph) {
      if (g.state === "intent") {
        if (converged) v.push(`record of ${key} holds an unresolved intent for app role ${g.appRoleId}`);
        continue;
      }
      const live = g.assignmentId ? liveGraph.get(g.assignmentId) : undefined;
      if (!live) v.push(`record of ${key} lists app-role assignment ${g.assignmentId}, which does not exist`);
      else if (!sameAppRoleAssignment(live, { ...live, ...g }))
        v.push(
          `record of ${key} lists app-role assignment ${g.assignmentId} with other resource/principal/role`,
        );
    }
    for (const r of b.record.rbac)
      if (!liveRbacIds.has(lc(r.id)))
        v.push(`record of ${key} lists role assignment ${r.id}, which does not exist`);
  }
  const fragmentsLive = new Set<string>();
  for (const svc of Object.values(state.apimServices))
    for (const f of Object.values(svc.fragments)) fragmentsLive.add(`${lc(svc.id)}|${lc(f.name)}`);
  const fragmentsRecorded = new Set<string>();
  for (const p of records.jwtPolicies) {
    const key = `${p.namespace}/${p.name}`;
    if (!records.liveJwtPolicies.has(key) && (converged || p.record.fragments.length > 0))
      v.push(`record of policy ${key} outlives the policy`);
    for (const f of p.record.fragments) {
      fragmentsRecorded.add(`${lc(f.serviceId)}|${lc(f.fragmentId)}`);
      if (!fragmentsLive.has(`${lc(f.serviceId)}|${lc(f.fragmentId)}`))
        v.push(`record of policy ${key} lists fragment ${f.fragmentId}, which does not exist`);
    }
  }
  if (converged)
    for (const f of fragmentsLive)
      if (f.split("|")[1]!.startsWith(OPERATOR_FRAGMENT_PREFIX) && !fragmentsRecorded.has(f))
        v.push(`operator fragment ${f} is in no record`);

  // 4. No duplicates.
  const seen = new Map<string, string>();
  for (const a of Object.values(state.roleAssignments)) {
    const k = `${lc(a.scope)}|${lc(a.roleDefinitionName)}|${lc(a.principalId)}`;
    const first = seen.get(k);
    if (first) v.push(`duplicate role assignments ${first} and ${roleAssignmentId(a)}`);
    else seen.set(k, roleAssignmentId(a));
  }
  const seenGraph = new Map<string, string>();
  for (const a of Object.values(state.appRoleAssignments)) {
    const k = `${lc(a.resourceId)}|${lc(a.appRoleId)}|${lc(a.principalId)}`;
    const first = seenGraph.get(k);
    if (first) v.push(`duplicate app-role assignments ${first} and ${a.id}`);
    else seenGraph.set(k, a.id);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Convergence, status and write loops (reliability matrix)

/** What the checks need of any kind's object: enough to add a kind without touching them. */
export interface ObservedObject {
  kind: string;
  namespace: string;
  name: string;
  generation?: number;
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const cond = (o: ObservedObject, type: string) => o.status?.conditions?.find((c) => c.type === type);

/** Ready, or Stalled with a reason; `undefined` while still on its way. */
export function outcomeOf(o: ObservedObject, settled = false): "Ready" | "Stalled" | undefined {
  if (o.generation !== undefined && o.status?.observedGeneration !== o.generation) return undefined;
  // Settled: Ready held through a transient failure (Synced=False, ADR 0026) does not count, since the pass that
  // would have seen drift failed and status may still describe the world before it (the 30 % matrix caught a
  // recreated identity so). While faults go on, a held Ready is still Ready.
  if (cond(o, "Ready")?.status === "True")
    return settled && cond(o, "Synced")?.status === "False" ? undefined : "Ready";
  if (cond(o, "Stalled")?.status === "True") return "Stalled";
  return undefined;
}

/**
 * Invariant 1: every object Ready, or Stalled with a CamelCase reason and a message a person can act on (at least
 * a few words, not an exception dump: no stack frames, no "[object Object]", no "undefined").
 */
export function findUnconverged(objects: readonly ObservedObject[]): string[] {
  const v: string[] = [];
  for (const o of objects) {
    const id = `${o.kind} ${o.namespace}/${o.name}`;
    const outcome = outcomeOf(o, true);
    if (!outcome) {
      const r = cond(o, "Ready");
      const sy = cond(o, "Synced");
      v.push(
        `${id} neither Ready nor Stalled (Ready=${r?.status ?? "-"} ${r?.reason ?? ""}: ${r?.message ?? ""})` +
          (sy?.status === "False" ? ` — its last pass failed (Synced=False ${sy.reason ?? ""})` : ""),
      );
      continue;
    }
    if (outcome === "Stalled") {
      const s = cond(o, "Stalled")!;
      if (!s.reason || !/^[A-Z][A-Za-z0-9]*$/.test(s.reason))
        v.push(`${id} Stalled without a CamelCase reason`);
      const msg = s.message ?? "";
      if (msg.trim().split(/\s+/).length < 3) v.push(`${id} Stalled with no readable message ("${msg}")`);
      if (/\n\s+at |\[object Object\]|\bundefined\b/.test(msg))
        v.push(`${id} Stalled with an internal error as its message: ${msg.slice(0, 200)}`);
    }
  }
  return v;
}

export interface BindingStatusView extends ObservedObject {
  spec: { logicAppId: string; identity: { type: string; userAssignedIdentityId?: string } };
  status?: ObservedObject["status"] & { principalId?: string; grants?: string };
}

/** The principal Azure holds for a binding's identity, or undefined when it has none. */
function principalInAzure(state: State, b: BindingStatusView): string | undefined {
  if (b.spec.identity.type === "UserAssigned") {
    const u = b.spec.identity.userAssignedIdentityId;
    return u ? state.userAssignedIdentities[lc(u)]?.principalId : undefined;
  }
  const la = state.workflows[lc(b.spec.logicAppId)] ?? state.sites[lc(b.spec.logicAppId)];
  return la?.identity.systemPrincipalId;
}

/**
 * Invariant 5: a Ready binding's status agrees with Azure: its principal is the one Azure holds now, every grant
 * its record lists is made to that principal, and `grants` reads n/n with n the recorded grants.
 */
export function findStatusDisagreements(world: World, bindings: readonly BindingStatusView[]): string[] {
  const v: string[] = [];
  const recordOf = new Map(world.records.bindings.map((b) => [`${b.namespace}/${b.name}`, b.record]));
  for (const b of bindings) {
    if (outcomeOf(b) !== "Ready") continue;
    const id = `binding ${b.namespace}/${b.name}`;
    const azure = principalInAzure(world.state, b);
    if (lc(b.status?.principalId ?? "") !== lc(azure ?? ""))
      v.push(`${id} is Ready with principal ${b.status?.principalId} but Azure holds ${azure ?? "none"}`);
    const rec = recordOf.get(`${b.namespace}/${b.name}`);
    if (!rec) {
      v.push(`${id} is Ready without a record`);
      continue;
    }
    for (const r of rec.rbac) {
      const live = Object.values(world.state.roleAssignments).find(
        (a) => lc(roleAssignmentId(a)) === lc(r.id),
      );
      if (live && lc(live.principalId) !== lc(azure ?? ""))
        v.push(`${id}: role assignment ${r.id} is made to ${live.principalId}, not ${azure}`);
    }
    for (const g of rec.graph) {
      const live = g.assignmentId ? world.state.appRoleAssignments[g.assignmentId] : undefined;
      if (live && lc(live.principalId) !== lc(azure ?? ""))
        v.push(`${id}: app-role assignment ${g.assignmentId} is made to ${live.principalId}, not ${azure}`);
    }
    const n = rec.rbac.length + rec.graph.length;
    if (b.status?.grants !== undefined && b.status.grants !== `${n}/${n}`)
      v.push(`${id} reports grants ${b.status.grants}, its record holds ${n}`);
  }
  return v;
}

/** A request as the emulator logged it (emulator/request-log.ts LogEntry, the fields the check reads). */
export interface LoggedRequest {
  seq: number;
  method: string;
  path: string;
  query?: string;
  status: number;
  outcome: string;
  faultIds?: string[];
  bodyHash?: string;
}

export interface WriteLoopOptions {
  /**
   * Log sequence numbers at which the world changed behind the operator's back (a person's edit, a recreated
   * identity, a restarted operator that lost nothing but its memory): a write repeated across one is not a loop.
   */
  changesAt?: readonly number[];
}

const WRITE = new Set(["PUT", "PATCH", "DELETE"]);

/**
 * Invariant 6: the same successful write (method, path, query, body) twice with nothing in between that could have made
 * the operator see a different world: no successful DELETE of that path (or PUT, for a DELETE repeated), no
 * declared change, no faulted request on that path in between (a failed or mangled read is a different
 * observation), and no fault on the first write (the operator may never have seen its answer). POSTs are left
 * to the duplicate-grant check: a repeated POST makes a second grant, which that check reports.
 */
export function findWriteLoops(log: readonly LoggedRequest[], options: WriteLoopOptions = {}): string[] {
  const changes = [...(options.changesAt ?? [])].sort((a, b) => a - b);
  const changedBetween = (a: number, b: number) => changes.some((c) => c > a && c < b);
  const last = new Map<string, LoggedRequest>();
  const lastOther = new Map<string, number>();
  // A faulted answer about a path (a failed or mangled read) is itself a changed observation of it.
  const lastFaulted = new Map<string, number>();
  const v: string[] = [];
  for (const e of [...log].sort((a, b) => a.seq - b.seq)) {
    if (e.faultIds?.length) lastFaulted.set(lc(e.path), e.seq);
    if (!WRITE.has(e.method) || e.outcome !== "response" || e.status < 200 || e.status >= 300) continue;
    const path = lc(e.path);
    const key = `${e.method} ${path}${e.query ?? ""} body:${e.bodyHash ?? "-"}`;
    const prev = last.get(key);
    if (
      prev &&
      !prev.faultIds?.length &&
      !changedBetween(prev.seq, e.seq) &&
      (lastFaulted.get(path) ?? -1) < prev.seq &&
      (lastOther.get(`${e.method} ${path}`) ?? -1) < prev.seq
    )
      v.push(`write repeated without a changed observation: ${key} (requests #${prev.seq} and #${e.seq})`);
    last.set(key, e);
    // A successful write of another method to the path is itself a change of what the next write sees.
    for (const m of WRITE) if (m !== e.method) lastOther.set(`${m} ${path}`, e.seq);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Fetching the world

export interface InvariantSources {
  emulator: EmulatorControl;
  kube: KubeClient;
  recordsNamespace: string;
}

/** A kind's first list after the API server starts can be 429 "storage is (re)initializing" for a moment. */
async function retrying429<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isStatus(err, 429) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function readRecords(src: InvariantSources): Promise<RecordsView> {
  const signal = AbortSignal.timeout(30_000);
  const stores = createOwnershipStores(src.kube, src.recordsNamespace);
  const split = (key: string) => {
    const i = key.indexOf("/");
    return { namespace: key.slice(0, i), name: key.slice(i + 1) };
  };
  const [bindings, policies, liveB, liveP] = await Promise.all([
    retrying429(() => stores.bindings.list(signal)),
    retrying429(() => stores.jwtPolicies.list(signal)),
    retrying429(() =>
      src.kube.list<{ metadata: { namespace: string; name: string } }>(BINDING_RESOURCE, undefined),
    ),
    retrying429(() =>
      src.kube.list<{ metadata: { namespace: string; name: string } }>(JWT_POLICY_RESOURCE, undefined),
    ),
  ]);
  return {
    bindings: bindings.map((r) => ({ ...split(r.key), record: r.data })),
    jwtPolicies: policies.map((r) => ({ ...split(r.key), record: r.data })),
    liveBindings: new Set(liveB.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)),
    liveJwtPolicies: new Set(liveP.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)),
  };
}

export async function readWorld(src: InvariantSources): Promise<World> {
  const [state, records] = await Promise.all([src.emulator.state(), readRecords(src)]);
  return { state, records };
}

/** Take before the test acts: what exists now and is not the operator's. */
export async function snapshotForeign(src: InvariantSources): Promise<ForeignSnapshot> {
  return foreignOf(await readWorld(src));
}

/** Throws, listing every violation, when an invariant is broken. */
export async function checkInvariants(
  src: InvariantSources,
  snapshot: ForeignSnapshot,
  options: CheckOptions = {},
): Promise<void> {
  const violations = findViolations(snapshot, await readWorld(src), options);
  if (violations.length > 0)
    throw new Error(`ownership invariants broken:\n  - ${violations.join("\n  - ")}`);
}
