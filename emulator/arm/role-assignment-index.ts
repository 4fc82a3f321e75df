/**
 * Role assignments by principal, beside `state.roleAssignments`, so that a create's duplicate check and a list
 * filtered by principal cost the principal's few assignments instead of a scan of the tenant's thousands (a CPU
 * profile of `npm run bench` at 2,000 bindings: 20 % of the process in `createAssignment`'s scan, one per create).
 * Only a cache: the state object stays the truth and keeps its shape (snapshots, reset and the control API read it
 * as before). Every write in the emulator goes through `putRoleAssignment`/`deleteRoleAssignment` and must keep
 * doing so: the index is built on first use per state object (reset and snapshot restore replace the object) and
 * rebuilt when an entry of the principal asked for disagrees with the state (deleted, replaced or changed in
 * place behind its back), but an assignment *added* behind its back, or moved to the principal asked for, is not
 * seen. Checking the count on every lookup
 * would see that too, but `Object.keys` of a store of 10,000 costs as much as the scan the index replaces.
 */
import { key } from "../ids.ts";
import type { Runtime } from "../runtime.ts";
import type { RoleAssignmentRecord } from "../state.ts";

type Store = Record<string, RoleAssignmentRecord>;

interface Entry {
  record: RoleAssignmentRecord;
  /** The fields the index was built from: a record changed in place no longer matches and forces a rebuild. */
  scope: string;
  principalId: string;
}

interface Index {
  /** principalId lower-cased → store key → entry, in the store's insertion order. */
  byPrincipal: Map<string, Map<string, Entry>>;
}

const indexes = new WeakMap<Store, Index>();

function build(store: Store): Index {
  const ix: Index = { byPrincipal: new Map() };
  for (const [k, record] of Object.entries(store)) add(ix, k, record);
  indexes.set(store, ix);
  return ix;
}

function add(ix: Index, k: string, record: RoleAssignmentRecord): void {
  const p = record.principalId.toLowerCase();
  let m = ix.byPrincipal.get(p);
  if (!m) ix.byPrincipal.set(p, (m = new Map()));
  m.set(k, { record, scope: record.scope, principalId: record.principalId });
}

function remove(ix: Index, k: string, record: RoleAssignmentRecord): void {
  const p = record.principalId.toLowerCase();
  const m = ix.byPrincipal.get(p);
  if (!m?.delete(k)) return;
  if (m.size === 0) ix.byPrincipal.delete(p);
}

/** Adds or replaces a role assignment (keyed as the state always was: the lower-cased name). */
export function putRoleAssignment(rt: Runtime, record: RoleAssignmentRecord): void {
  const store = rt.state.roleAssignments;
  const k = key(record.name);
  const ix = indexes.get(store);
  const before = store[k];
  store[k] = record;
  if (!ix) return;
  // Another principal under the same name would land out of the store's order in its principal's map: rebuild.
  if (before && before.principalId.toLowerCase() !== record.principalId.toLowerCase()) indexes.delete(store);
  else add(ix, k, record);
}

/** Deletes by store key; whether it was there. */
export function deleteRoleAssignment(rt: Runtime, k: string): boolean {
  const store = rt.state.roleAssignments;
  const before = store[k];
  if (!before) return false;
  delete store[k];
  const ix = indexes.get(store);
  if (ix) remove(ix, k, before);
  return true;
}

/**
 * A principal's role assignments (principal ids compared case-insensitively), in the store's order — the order a
 * scan of `Object.values(state.roleAssignments)` returns them in.
 */
export function roleAssignmentsOf(rt: Runtime, principalId: string): RoleAssignmentRecord[] {
  const store = rt.state.roleAssignments;
  const ix = indexes.get(store) ?? build(store);
  const got = lookup(store, ix, principalId);
  return got ?? lookup(store, build(store), principalId)!;
}

/** The principal's entries, or undefined when one of them no longer matches the state (then rebuild). */
function lookup(store: Store, ix: Index, principalId: string): RoleAssignmentRecord[] | undefined {
  const out: RoleAssignmentRecord[] = [];
  for (const [k, e] of ix.byPrincipal.get(principalId.toLowerCase()) ?? []) {
    const now = store[k];
    if (now !== e.record || now.scope !== e.scope || now.principalId !== e.principalId) return undefined;
    out.push(now);
  }
  return out;
}

const scopeKeys = new WeakMap<RoleAssignmentRecord, { scope: string; key: string }>();

/** `key(record.scope)`, computed once per record (and again only if its scope was changed in place). */
export function scopeKeyOf(record: RoleAssignmentRecord): string {
  const got = scopeKeys.get(record);
  if (got && got.scope === record.scope) return got.key;
  const k = key(record.scope);
  scopeKeys.set(record, { scope: record.scope, key: k });
  return k;
}
