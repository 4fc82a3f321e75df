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
 *
 * The rules are the pure `findViolations`, so test/unit/invariants.test.ts can show each one fails on a world that
 * breaks it; the async wrappers only fetch.
 */
import { renderRoleAssignment } from "../../emulator/arm/authorization.ts";
import type { EmulatorControl } from "../../emulator/client.ts";
import type { AppRoleAssignmentRecord, RoleAssignmentRecord, State } from "../../emulator/state.ts";
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
  const out: ForeignSnapshot = { roleAssignments: {}, appRoleAssignments: {}, policies: {}, fragments: {} };
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
