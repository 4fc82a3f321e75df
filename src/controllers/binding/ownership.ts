/**
 * A binding's ownership record and its Logic App claim, for one pass (docs/ownership.md, ADR 0015). The rules are
 * pure in ../shared/ownership.ts; this module reads the record in gather (taking it over for a restored object and
 * resolving write-ahead intents against Graph), writes intent before Azure writes (the engine's write-ahead seam),
 * records what apply did, and deletes the record and releases the claim when the object is finalized.
 * Records are written only when they change: one GET per pass in steady state, plus one for the claim.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { CallOptions } from "../../azure/ports.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { KubeClient } from "../../runtime/client.ts";
import {
  memoryRecordStore as memoryStore,
  type RecordAccess,
  type StoredRecord,
} from "../../runtime/records.ts";
import {
  canonicalLogicAppId,
  emptyBindingRecord,
  parseOwnershipMarker,
  resolveGraphIntents,
  takeOverRecord,
  withGraphCreated,
  withGraphIntent,
  withIdentityEnabled,
  withoutGraph,
  withoutRbac,
  withRbac,
  type BindingRecord,
  type ClaimCandidate,
  type GraphTriple,
  type ObjectIdentity,
} from "../shared/ownership.ts";
import {
  claimLogicApp,
  recordKeyOf,
  releaseClaim,
  type ClaimPeers,
  type OwnershipStores,
} from "../shared/ownership-store.ts";
import type { OwnershipRecords } from "../shared/pass.ts";
import type { ActionResult, PassAction } from "../shared/rounds.ts";
import { selfOf } from "./decide-revocations.ts";
import { eqi } from "./decide-support.ts";
import type { BindingAction, BindingObservation } from "./model.ts";
import { scannedPeers, type BindingPeers } from "./peers.ts";

/** The cached bindings a pass may consult: an index (the operator) or a list to walk (converge, plan, tests). */
export type PeerSource = BindingPeers | (() => readonly Readonly<LogicAppIdentityBinding>[]);

const peersOf = (source: PeerSource): BindingPeers =>
  typeof source === "function" ? scannedPeers(source) : source;

/** The part of RecordStore a binding uses (RecordStore<BindingRecord> is one; converge uses memory). */
export type BindingRecordStore = RecordAccess<BindingRecord>;

export interface BindingClaims {
  /**
   * Claims the Logic App for `self`: undefined when it is this binding's, else the holder's "namespace/name".
   * `peers` gives the cached bindings the decision needs once the claim is read: those on the same Logic App and
   * the claim's holder (docs/ownership.md), never the whole cache.
   */
  claim(self: ClaimCandidate, peers: ClaimPeers, signal: AbortSignal): Promise<string | undefined>;
  release(self: ObjectIdentity, logicAppId: string, signal: AbortSignal): Promise<void>;
}

/** Claims on the API server (../shared/ownership-store.ts). */
export function kubeClaims(stores: Pick<OwnershipStores, "claims">, client: KubeClient): BindingClaims {
  return {
    claim: async (self, peers, signal) => {
      const out = await claimLogicApp({
        claims: stores.claims,
        client,
        self,
        bindingsInCache: peers,
        signal,
      });
      return out.decision.owner ? undefined : out.decision.holder;
    },
    release: async (self, logicAppId, signal) => {
      await releaseClaim(stores.claims, self, logicAppId, signal);
    },
  };
}

/** Records in memory, for passes without Kubernetes (converge: benchmark, plan, unit tests). */
export function memoryRecordStore(): BindingRecordStore {
  return memoryStore<BindingRecord>("binding");
}

export interface BindingOwnershipDeps {
  records: BindingRecordStore;
  /** Absent without Kubernetes: a lone binding has nobody to share its Logic App with. */
  claims?: BindingClaims;
}

const asCandidate = (b: Readonly<LogicAppIdentityBinding>): ClaimCandidate => ({
  ...selfOf(b),
  creationTimestamp: b.metadata.creationTimestamp ?? "",
  logicAppId: b.spec.logicAppId,
  ...(b.metadata.deletionTimestamp !== undefined ? { deleting: true } : {}),
});

const tripleOf = (a: GraphTriple): GraphTriple => ({
  resourceId: a.resourceId,
  principalId: a.principalId,
  appRoleId: a.appRoleId,
});

/** The principal the spec's identity has now, as decide will see it. */
function currentPrincipal(b: LogicAppIdentityBinding, o: BindingObservation): string | undefined {
  const la = o.logicApp;
  if (!la.exists) return undefined;
  if (b.spec.identity.type === "SystemAssigned") return la.identity.principalId;
  const ua = la.identity.userAssigned.find((u) => eqi(u.id, b.spec.identity.userAssignedIdentityId));
  return ua?.principalId ?? (ua ? o.userAssignedIdentity?.principalId : undefined);
}

/** One pass's view of the record: read once, then kept in step with every write this pass makes. */
export class OwnershipSession {
  private readonly deps: BindingOwnershipDeps;
  private readonly binding: Readonly<LogicAppIdentityBinding>;
  private readonly signal: AbortSignal;
  private readonly peers: BindingPeers;
  /** The record key (namespace/name). */
  readonly key: string;
  private stored: StoredRecord<BindingRecord> | undefined;
  private opened = false;
  /** Called once the object is finalized (the registry forgets the session). */
  onFinalized: (() => void) | undefined;
  /** The holder, when another binding manages this Logic App. */
  claimedBy: string | undefined;
  othersOnLogicApp = 0;

  constructor(
    deps: BindingOwnershipDeps,
    binding: Readonly<LogicAppIdentityBinding>,
    signal: AbortSignal,
    peers: PeerSource,
  ) {
    this.deps = deps;
    this.binding = binding;
    this.signal = signal;
    this.peers = peersOf(peers);
    this.key = recordKeyOf(selfOf(binding));
  }

  get record(): BindingRecord | undefined {
    return this.stored?.data;
  }

  /** Once per pass, before anything is read from Azure: the record (taken over if restored) and the claim. */
  async open(): Promise<void> {
    if (this.opened) return;
    const self = selfOf(this.binding);
    this.stored = await this.deps.records.get(this.key, this.signal);
    if (this.stored && this.stored.data.uid !== self.uid)
      await this.write(takeOverRecord(this.stored.data, self));
    const target = canonicalLogicAppId(this.binding.spec.logicAppId);
    // Only what decideClaim looks at: the bindings on this Logic App, and the claim's holder wherever it points
    // now (a holder whose spec moved away still holds until it lets go). Equal to handing it the whole cache.
    const sameApp = this.peers
      .onLogicApp(target)
      .map(asCandidate)
      .filter((b) => recordKeyOf(b) !== this.key);
    this.othersOnLogicApp = sameApp.filter((b) => !b.deleting).length;
    const candidates: ClaimPeers = (holder) => {
      if (!holder || recordKeyOf(holder) === this.key) return sameApp;
      if (sameApp.some((b) => recordKeyOf(b) === recordKeyOf(holder))) return sameApp;
      const h = this.peers.get(holder.namespace, holder.name);
      return h ? [...sameApp, asCandidate(h)] : sameApp;
    };
    this.claimedBy = await this.deps.claims?.claim(asCandidate(this.binding), candidates, this.signal);
    this.opened = true;
  }

  /**
   * After gather has listed Azure: settle the record against it. Intents are resolved (found → created, absent →
   * never happened), entries Azure no longer holds are dropped, a role assignment carrying this UID's marker but
   * missing from the record (a crash before the record write) is added, and a Logic App the spec moved away from
   * is let go once no recorded grant belongs to another principal than the current one.
   */
  async settle(b: LogicAppIdentityBinding, o: BindingObservation): Promise<BindingRecord | undefined> {
    if (this.claimedBy !== undefined) return this.record;
    const base = this.stored?.data ?? emptyBindingRecord(selfOf(b), b.spec.logicAppId);
    let r = base;
    const listed = new Set(Object.keys(o.appRoleAssignments));
    const liveGraph = Object.values(o.appRoleAssignments).flat();
    r = resolveGraphIntents(r, liveGraph, listed).record;
    for (const g of r.graph) {
      if (g.state === "created" && listed.has(g.resourceId.toLowerCase()) && g.assignmentId)
        if (!liveGraph.some((l) => l.id === g.assignmentId)) r = withoutGraph(r, g.assignmentId);
    }
    const scopes = new Set(o.listedRoleAssignments?.scopes ?? []);
    const principals = new Set(o.listedRoleAssignments?.principals ?? []);
    for (const e of r.rbac) {
      const looked = scopes.has(e.scope.toLowerCase()) && principals.has(e.principalId.toLowerCase());
      if (looked && !o.roleAssignments.some((a) => eqi(a.id, e.id))) r = withoutRbac(r, e.id);
    }
    const self = selfOf(b);
    for (const a of o.roleAssignments) {
      const m = parseOwnershipMarker(a.description);
      if (m && m.namespace === self.namespace && m.name === self.name && m.uid === self.uid)
        r = withRbac(r, {
          id: a.id,
          scope: a.scope,
          roleDefinitionId: a.roleDefinitionId,
          principalId: a.principalId,
        });
    }
    // A recorded access policy that a listed connection no longer holds is gone (or its PUT never happened).
    for (const c of o.workflows?.connections ?? []) {
      if (!c.accessPolicies) continue;
      const live = new Set(c.accessPolicies.map((p) => p.name.toLowerCase()));
      r = {
        ...r,
        connectionPolicies: (r.connectionPolicies ?? []).filter(
          (e) => !eqi(e.connectionId, c.connectionId) || live.has(e.name.toLowerCase()),
        ),
      };
    }
    if ((r.connectionPolicies ?? []).length === 0 && base.connectionPolicies === undefined) {
      const { connectionPolicies: _none, ...rest } = r;
      r = rest;
    }
    const target = canonicalLogicAppId(b.spec.logicAppId);
    const principal = currentPrincipal(b, o);
    if (r.logicAppId !== target && principal !== undefined) {
      const elsewhere = [...r.rbac, ...r.graph].some((g) => !eqi(g.principalId, principal));
      if (!elsewhere) {
        await this.deps.claims?.release(self, r.logicAppId, this.signal);
        // The identity of the old Logic App is left as it is: turning it off is not worth a wrong guess.
        r = { ...r, logicAppId: target, identity: emptyBindingRecord(self, target).identity };
      }
    }
    if (JSON.stringify(r) !== JSON.stringify(base)) await this.write(r);
    return this.record;
  }

  /** Write-ahead, before the round's Azure writes: Graph intents, and "the operator turns the identity on". */
  async writeIntent(writes: readonly BindingAction[]): Promise<void> {
    let r = this.stored?.data ?? emptyBindingRecord(selfOf(this.binding), this.binding.spec.logicAppId);
    for (const w of writes) {
      if (w.type === "createAppRoleAssignment") r = withGraphIntent(r, tripleOf(w));
      if (w.type === "setIdentity" && w.why === "enable") r = withIdentityEnabled(r, undefined);
      // Recorded before the PUT: a crash after it must not leave a policy of ours that the record does not list.
      if (w.type === "putConnectionAccessPolicy") r = withConnectionPolicy(r, w);
    }
    if (!this.stored || JSON.stringify(r) !== JSON.stringify(this.stored.data)) await this.write(r);
  }

  /** After apply: what took effect, so the record lists exactly what this binding made. */
  async recordApplied(results: readonly ActionResult<BindingAction>[]): Promise<void> {
    const base = this.stored?.data ?? emptyBindingRecord(selfOf(this.binding), this.binding.spec.logicAppId);
    let r = base;
    for (const { action: a, outcome, detail } of results) {
      switch (a.type) {
        case "setIdentity":
          if (outcome !== "done") break;
          if (a.why === "disableOnDelete")
            r = { ...r, identity: { ...r.identity, enabledByOperator: false } };
          else if (a.desired.type.startsWith("SystemAssigned") && r.identity.enabledByOperator)
            r = withIdentityEnabled(r, detail);
          if (a.why === "attach" && this.binding.spec.identity.userAssignedIdentityId) {
            const id = this.binding.spec.identity.userAssignedIdentityId.toLowerCase();
            const ids = r.identity.attachedUserAssignedIds;
            if (!ids.includes(id))
              r = { ...r, identity: { ...r.identity, attachedUserAssignedIds: [...ids, id] } };
          }
          break;
        case "createRoleAssignment":
          if (outcome === "done" && detail)
            r = withRbac(r, {
              id: detail,
              scope: a.scope,
              roleDefinitionId: a.roleDefinitionId,
              principalId: a.principalId,
            });
          break;
        case "createAppRoleAssignment":
          if (outcome === "done" && detail) r = withGraphCreated(r, tripleOf(a), detail);
          // Graph's duplicate (someone else's equal grant) or no create at all: the intent must not later match
          // an assignment this binding did not make.
          else
            r = {
              ...r,
              graph: r.graph.filter(
                (g) =>
                  !(
                    g.state === "intent" &&
                    eqi(g.resourceId, a.resourceId) &&
                    eqi(g.principalId, a.principalId) &&
                    eqi(g.appRoleId, a.appRoleId)
                  ),
              ),
            };
          break;
        case "deleteRoleAssignment":
          if (outcome === "done") r = withoutRbac(r, a.id);
          break;
        case "deleteAppRoleAssignment":
          if (outcome === "done") r = withoutGraph(r, a.id);
          break;
        case "putConnectionAccessPolicy":
          if (outcome === "done") r = withConnectionPolicy(r, a);
          break;
        case "deleteConnectionAccessPolicy":
          if (outcome === "done")
            r = {
              ...r,
              connectionPolicies: (r.connectionPolicies ?? []).filter(
                (e) => !(eqi(e.connectionId, a.connectionId) && eqi(e.name, a.name)),
              ),
            };
          break;
      }
    }
    if (JSON.stringify(r) !== JSON.stringify(base)) await this.write(r);
  }

  /**
   * The object's deletion is done (Delete or Orphan policy): its record goes, so a later object of the same name
   * inherits nothing its predecessor let go, and its claims are released.
   */
  async finalize(): Promise<void> {
    const self = selfOf(this.binding);
    const logicApps = new Set([canonicalLogicAppId(this.binding.spec.logicAppId)]);
    if (this.stored) logicApps.add(this.stored.data.logicAppId);
    if (this.stored) await this.deps.records.delete(this.key, this.stored.resourceVersion, this.signal);
    this.stored = undefined;
    for (const la of logicApps) await this.deps.claims?.release(self, la, this.signal);
    this.onFinalized?.();
  }

  private async write(r: BindingRecord): Promise<void> {
    this.stored = await this.deps.records.put(this.key, r, this.stored?.resourceVersion, this.signal);
  }
}

function withConnectionPolicy(
  r: BindingRecord,
  p: { connectionId: string; name: string; principalId: string },
): BindingRecord {
  const list = r.connectionPolicies ?? [];
  if (list.some((e) => eqi(e.connectionId, p.connectionId) && eqi(e.name, p.name))) return r;
  const entry = { connectionId: p.connectionId.toLowerCase(), name: p.name, principalId: p.principalId };
  return { ...r, connectionPolicies: [...list, entry] };
}

/** The engine's write-ahead seam for bindings: each pass registers its session; recordIntent finds it by key. */
export class BindingRecords implements OwnershipRecords {
  private readonly deps: BindingOwnershipDeps;
  private readonly sessions = new Map<string, OwnershipSession>();

  constructor(deps: BindingOwnershipDeps) {
    this.deps = deps;
  }

  open(binding: Readonly<LogicAppIdentityBinding>, signal: AbortSignal, peers: PeerSource): OwnershipSession {
    const session = new OwnershipSession(this.deps, binding, signal, peers);
    const key = recordKeyOf(selfOf(binding));
    // One worker per key: the previous pass of this object is over.
    this.sessions.set(key, session);
    session.onFinalized = () => this.close(session);
    return session;
  }

  /**
   * The pass is over: its session goes. Kept, it would hold the object as the API server returned it, the
   * reconcile's context and logger, for every binding that ever reconciled (see docs/benchmarks.md, memory).
   */
  close(session: OwnershipSession): void {
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
  }

  /** Passes in flight (tests, diagnostics): 0 when none is. */
  get openSessions(): number {
    return this.sessions.size;
  }

  async recordIntent(
    obj: Readonly<KubeObject>,
    _kind: string,
    writes: readonly PassAction[],
    _call: CallOptions,
  ): Promise<void> {
    const key = recordKeyOf({ namespace: obj.metadata.namespace ?? "", name: obj.metadata.name });
    const session = this.sessions.get(key);
    if (!session) throw new Error(`no ownership session for binding ${key}`);
    // Only the binding reconciler is given this seam, so its writes are binding actions.
    await session.writeIntent(writes as readonly BindingAction[]);
  }
}
