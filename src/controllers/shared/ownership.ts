/**
 * Who owns what, decided from Azure plus records only the operator writes (never from `status`, which is a report).
 * Pure: the decide functions of both kinds call these; the store that reads and writes the records is
 * ./ownership-store.ts. Why records live where they do: docs/adr/0015-ownership-records.md.
 */
import { canonicalLogicAppId } from "../../api/v1alpha1/binding.ts";

/** The object a decision is made for, as the cache holds it now. */
export interface ObjectIdentity {
  namespace: string;
  name: string;
  uid: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Record shapes

export interface BindingIdentityRecord {
  /** True only when this operator turned the system identity on (it was off when first observed). */
  enabledByOperator: boolean;
  /** Every system principal the operator saw while it owned the identity (lower case), oldest first. */
  systemPrincipalIds: string[];
  /** User-assigned identity IDs this binding attached (canonical lower case); detached on deletion. */
  attachedUserAssignedIds: string[];
}

export type GraphGrantState = "intent" | "created";

/**
 * Graph app-role assignments carry no description, so this list is the only proof that one is ours. Write-ahead:
 * `intent` is recorded before the create call, `created` (with the ID Graph returned) after it.
 */
export interface GraphGrantRecord {
  resourceId: string;
  principalId: string;
  appRoleId: string;
  assignmentId?: string;
  state: GraphGrantState;
}

export interface RbacGrantRecord {
  /** Full role assignment ID. */
  id: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
}

export interface BindingRecord {
  /** UID of the object that last wrote the record; a restored object (new UID) takes it over, see takeOverRecord. */
  uid: string;
  /** Canonical (lower-case) Logic App ID. */
  logicAppId: string;
  identity: BindingIdentityRecord;
  graph: GraphGrantRecord[];
  rbac: RbacGrantRecord[];
  /**
   * Access policies on managed API connections this binding wrote (issue 14), recorded before the PUT: only these are
   * ever deleted. Optional: records written before it existed have none.
   */
  connectionPolicies?: ConnectionPolicyRecord[];
}

export interface ConnectionPolicyRecord {
  /** Canonical (lower-case) connection ID. */
  connectionId: string;
  /** The policy's name (deterministic, see connectionPolicyName). */
  name: string;
  principalId: string;
}

export interface JwtPolicyRecord {
  uid: string;
  fragments: { serviceId: string; fragmentId: string }[];
  /** Stable labels of the policy targets this object included its fragment in. */
  targets: string[];
}

/** One per canonical Logic App ID: which binding may manage its identity and grants. */
export interface ClaimRecord {
  logicAppId: string;
  namespace: string;
  name: string;
  uid: string;
}

export const BINDING_RECORD_KIND = "binding";
export const JWT_POLICY_RECORD_KIND = "jwtpolicy";
export const CLAIM_RECORD_KIND = "claim";

// ---------------------------------------------------------------------------------------------------------------
// Canonical forms

const eqi = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/** ARM IDs are case-insensitive; a trailing slash is not part of the ID (defined with the binding API, which every layer may read). */
export { canonicalLogicAppId };

export function emptyBindingRecord(self: ObjectIdentity, logicAppId: string): BindingRecord {
  return {
    uid: self.uid,
    logicAppId: canonicalLogicAppId(logicAppId),
    identity: { enabledByOperator: false, systemPrincipalIds: [], attachedUserAssignedIds: [] },
    graph: [],
    rbac: [],
  };
}

/**
 * Records are keyed by (namespace, name), so an object restored from a backup (new UID, empty status) finds the
 * record of its predecessor. Taking it over is safe because only someone who may create objects under that exact
 * namespace and name can reach it — the same tenant that owned it — and a different namespace can never map to
 * the same record. The record keeps every grant it listed; only the UID changes.
 */
export function takeOverRecord<T extends { uid: string }>(record: T, self: ObjectIdentity): T {
  return record.uid === self.uid ? record : { ...record, uid: self.uid };
}

// ---------------------------------------------------------------------------------------------------------------
// Azure-side markers (RBAC descriptions), in the format src/azure/naming.ts ownershipMarker() writes

const MARKER =
  /^managed-by=logicapp-identity-operator; binding=([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?); uid=([A-Za-z0-9-]+)$/;

/** The object a role assignment's description names, or undefined when it carries no (well-formed) marker. */
export function parseOwnershipMarker(description: string | null | undefined): ObjectIdentity | undefined {
  if (!description) return undefined;
  const m = MARKER.exec(description.trim());
  if (!m) return undefined;
  return { namespace: m[1]!, name: m[3]!, uid: m[5]! };
}

// ---------------------------------------------------------------------------------------------------------------
// Record edits (pure; apply writes the result with the resourceVersion it read)

export interface GraphTriple {
  resourceId: string;
  principalId: string;
  appRoleId: string;
}

const tripleEq = (a: GraphTriple, b: GraphTriple): boolean =>
  eqi(a.resourceId, b.resourceId) && eqi(a.principalId, b.principalId) && eqi(a.appRoleId, b.appRoleId);

/** Write-ahead: record the intent before the Graph create (idempotent). */
export function withGraphIntent(record: BindingRecord, t: GraphTriple): BindingRecord {
  if (record.graph.some((g) => tripleEq(g, t))) return record;
  return { ...record, graph: [...record.graph, { ...t, state: "intent" }] };
}

/** After the Graph create returned: the intent becomes `created` with Graph's ID. */
export function withGraphCreated(record: BindingRecord, t: GraphTriple, assignmentId: string): BindingRecord {
  const rest = record.graph.filter((g) => !tripleEq(g, t));
  return { ...record, graph: [...rest, { ...t, assignmentId, state: "created" }] };
}

/** After a revoke (or on finding the assignment gone). */
export function withoutGraph(record: BindingRecord, assignmentId: string): BindingRecord {
  return { ...record, graph: record.graph.filter((g) => !eqi(g.assignmentId, assignmentId)) };
}

export function withRbac(record: BindingRecord, entry: RbacGrantRecord): BindingRecord {
  if (record.rbac.some((r) => eqi(r.id, entry.id))) return record;
  return { ...record, rbac: [...record.rbac, entry] };
}

export function withoutRbac(record: BindingRecord, id: string): BindingRecord {
  return { ...record, rbac: record.rbac.filter((r) => !eqi(r.id, id)) };
}

/** The operator turned the system identity on (or saw a new principal of one it owns): remember the principal. */
export function withIdentityEnabled(record: BindingRecord, principalId: string | undefined): BindingRecord {
  const seen = record.identity.systemPrincipalIds;
  const p = principalId?.toLowerCase();
  return {
    ...record,
    identity: {
      ...record.identity,
      enabledByOperator: true,
      systemPrincipalIds: p && !seen.includes(p) ? [...seen, p] : seen,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Ownership predicates, for every delete decision

export interface LiveRoleAssignment {
  id: string;
  description?: string | null;
}

/**
 * True only when the live assignment's marker names this object: by UID, or — for an object restored from a
 * backup, whose UID changed — by namespace/name with the assignment's ID listed in this object's record.
 * An assignment whose marker names another object, or that has no marker, is never ours (a person or another tool
 * made it, or another binding created it and we only adopted it).
 */
export function ownsRoleAssignment(
  record: Pick<BindingRecord, "rbac"> | undefined,
  self: ObjectIdentity,
  live: LiveRoleAssignment,
): boolean {
  const marker = parseOwnershipMarker(live.description);
  if (!marker || marker.namespace !== self.namespace || marker.name !== self.name) return false;
  if (marker.uid === self.uid) return true;
  return (record?.rbac ?? []).some((r) => eqi(r.id, live.id));
}

export interface LiveAppRoleAssignment {
  id: string;
  resourceId: string;
  principalId: string;
  appRoleId: string;
}

const sameTriple = (r: GraphGrantRecord, live: LiveAppRoleAssignment): boolean =>
  eqi(r.resourceId, live.resourceId) &&
  eqi(r.principalId, live.principalId) &&
  eqi(r.appRoleId, live.appRoleId);

/**
 * Graph assignments carry no marker: ours only when the record lists its ID (created) or holds an unresolved
 * intent for exactly its (resource, principal, app role) — the create may have succeeded just before a crash.
 */
export function ownsAppRoleAssignment(
  record: Pick<BindingRecord, "graph"> | undefined,
  live: LiveAppRoleAssignment,
): boolean {
  return (record?.graph ?? []).some((r) =>
    r.state === "created" ? eqi(r.assignmentId, live.id) && sameTriple(r, live) : sameTriple(r, live),
  );
}

/**
 * Resolves write-ahead intents against Graph's list for the resources listed in `observedResourceIds` (lower-case
 * IDs whose assignments `live` holds in full): an intent whose assignment exists becomes `created` with its ID; one
 * whose assignment does not exist was never written and is dropped. Intents on resources not observed stay as
 * they are. Call it in gather, before any decide reads the record.
 */
export function resolveGraphIntents(
  record: BindingRecord,
  live: readonly LiveAppRoleAssignment[],
  observedResourceIds: ReadonlySet<string>,
): { record: BindingRecord; changed: boolean } {
  let changed = false;
  const graph: GraphGrantRecord[] = [];
  for (const r of record.graph) {
    if (r.state !== "intent" || !observedResourceIds.has(r.resourceId.toLowerCase())) {
      graph.push(r);
      continue;
    }
    changed = true;
    const match = live.find((l) => sameTriple(r, l));
    if (match) graph.push({ ...r, assignmentId: match.id, state: "created" });
  }
  return { record: changed ? { ...record, graph } : record, changed };
}

/**
 * "This object turned the system identity on" — only from the record, never from status. With the live principal
 * given, it must also be one the operator saw: an identity someone else turned off and on again (a new principal
 * the operator never recorded) is theirs, and the operator must not turn it off.
 */
export function identityTurnedOnByUs(
  record: Pick<BindingRecord, "identity"> | undefined,
  livePrincipalId?: string,
): boolean {
  if (!record?.identity.enabledByOperator) return false;
  if (livePrincipalId === undefined) return true;
  return record.identity.systemPrincipalIds.some((p) => eqi(p, livePrincipalId));
}

// ---------------------------------------------------------------------------------------------------------------
// One owner per Logic App

export interface ClaimCandidate extends ObjectIdentity {
  /** RFC 3339, as the API server sets it. */
  creationTimestamp: string;
  logicAppId: string;
  deleting?: boolean;
}

/** Stalled reason for a binding whose Logic App another binding manages. */
export const LOGIC_APP_CLAIMED = "LogicAppClaimed";

export function logicAppClaimedMessage(logicAppId: string, holder: string): string {
  return `Logic App ${logicAppId} is managed by binding ${holder}; only one binding may manage a Logic App. Delete one of them, or point this one at another Logic App.`;
}

export type ClaimDecision =
  | {
      owner: true;
      /** What the store must write: create the claim, take it over (resourceVersion precondition), or nothing. */
      write: "create" | "takeover" | "none";
    }
  | { owner: false; holder: string };

const keyOf = (o: { namespace: string; name: string }): string => `${o.namespace}/${o.name}`;

function oldestFirst(a: ClaimCandidate, b: ClaimCandidate): number {
  const ta = Date.parse(a.creationTimestamp);
  const tb = Date.parse(b.creationTimestamp);
  if (ta !== tb) return (Number.isNaN(ta) ? Infinity : ta) - (Number.isNaN(tb) ? Infinity : tb);
  return a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0;
}

/**
 * Which binding manages a Logic App. The rule, in order:
 * 1. An existing claim whose holder (namespace/name) still exists wins, even against an older binding: first come.
 *    Ownership then moves only when the holder is gone, never because a cache caught up or an older object was
 *    restored — moving it would hand the identity to a new owner while the old one may still be cleaning up.
 *    A holder being deleted still holds: it releases the claim once its cleanup is done.
 * 2. With no claim, or a claim whose holder no longer exists, the oldest live binding for the same canonical
 *    Logic App ID (creationTimestamp, then UID) is the one that writes the claim; every other one waits.
 * Race-safety comes from the API server, not from the cache: `create` is a plain create (one of two wins, the other
 * gets 409 and decides again with the claim in hand) and `takeover` carries the claim's resourceVersion.
 */
export function decideClaim(input: {
  self: ClaimCandidate;
  bindingsInCache: readonly ClaimCandidate[];
  claim: ClaimRecord | undefined;
}): ClaimDecision {
  const { self, claim } = input;
  const target = canonicalLogicAppId(self.logicAppId);
  if (claim) {
    const holderKey = keyOf(claim);
    if (holderKey === keyOf(self))
      return { owner: true, write: claim.uid === self.uid ? "none" : "takeover" };
    if (input.bindingsInCache.some((b) => keyOf(b) === holderKey)) return { owner: false, holder: holderKey };
  }
  const candidates = new Map<string, ClaimCandidate>();
  for (const b of [...input.bindingsInCache, self]) {
    if (b.deleting || canonicalLogicAppId(b.logicAppId) !== target) continue;
    if (claim && keyOf(b) === keyOf(claim)) continue;
    candidates.set(keyOf(b), keyOf(b) === keyOf(self) ? self : b);
  }
  const oldest = [...candidates.values()].sort(oldestFirst)[0];
  if (!oldest || keyOf(oldest) === keyOf(self)) return { owner: true, write: claim ? "takeover" : "create" };
  return { owner: false, holder: keyOf(oldest) };
}

// ---------------------------------------------------------------------------------------------------------------
// Payload validation (a record is ours, but a person with cluster-admin can still edit it by hand)

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what} is not an object`);
  return v as Obj;
}
function str(o: Obj, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== "string") throw new Error(`${what}.${k} is not a string`);
  return v;
}
function arr(o: Obj, k: string, what: string): unknown[] {
  const v = o[k];
  if (!Array.isArray(v)) throw new Error(`${what}.${k} is not an array`);
  return v;
}
function strings(o: Obj, k: string, what: string): string[] {
  return arr(o, k, what).map((x, i) => {
    if (typeof x !== "string") throw new Error(`${what}.${k}[${i}] is not a string`);
    return x;
  });
}

export function parseBindingRecord(value: unknown): BindingRecord {
  const o = obj(value, "record");
  const id = obj(o.identity, "record.identity");
  if (typeof id.enabledByOperator !== "boolean")
    throw new Error("record.identity.enabledByOperator is not a boolean");
  return {
    uid: str(o, "uid", "record"),
    logicAppId: str(o, "logicAppId", "record"),
    identity: {
      enabledByOperator: id.enabledByOperator,
      systemPrincipalIds: strings(id, "systemPrincipalIds", "record.identity"),
      attachedUserAssignedIds: strings(id, "attachedUserAssignedIds", "record.identity"),
    },
    graph: arr(o, "graph", "record").map((g, i) => {
      const w = `record.graph[${i}]`;
      const e = obj(g, w);
      const state = e.state;
      if (state !== "intent" && state !== "created") throw new Error(`${w}.state is not intent or created`);
      if (state === "created" && typeof e.assignmentId !== "string")
        throw new Error(`${w} is created but has no assignmentId`);
      return {
        resourceId: str(e, "resourceId", w),
        principalId: str(e, "principalId", w),
        appRoleId: str(e, "appRoleId", w),
        ...(typeof e.assignmentId === "string" ? { assignmentId: e.assignmentId } : {}),
        state,
      };
    }),
    rbac: arr(o, "rbac", "record").map((r, i) => {
      const w = `record.rbac[${i}]`;
      const e = obj(r, w);
      return {
        id: str(e, "id", w),
        scope: str(e, "scope", w),
        roleDefinitionId: str(e, "roleDefinitionId", w),
        principalId: str(e, "principalId", w),
      };
    }),
    ...(o.connectionPolicies !== undefined
      ? {
          connectionPolicies: arr(o, "connectionPolicies", "record").map((c, i) => {
            const w = `record.connectionPolicies[${i}]`;
            const e = obj(c, w);
            return {
              connectionId: str(e, "connectionId", w),
              name: str(e, "name", w),
              principalId: str(e, "principalId", w),
            };
          }),
        }
      : {}),
  };
}

export function parseJwtPolicyRecord(value: unknown): JwtPolicyRecord {
  const o = obj(value, "record");
  return {
    uid: str(o, "uid", "record"),
    fragments: arr(o, "fragments", "record").map((f, i) => {
      const e = obj(f, `record.fragments[${i}]`);
      return {
        serviceId: str(e, "serviceId", `record.fragments[${i}]`),
        fragmentId: str(e, "fragmentId", `record.fragments[${i}]`),
      };
    }),
    targets: strings(o, "targets", "record"),
  };
}

export function parseClaimRecord(value: unknown): ClaimRecord {
  const o = obj(value, "claim");
  return {
    logicAppId: str(o, "logicAppId", "claim"),
    namespace: str(o, "namespace", "claim"),
    name: str(o, "name", "claim"),
    uid: str(o, "uid", "claim"),
  };
}
