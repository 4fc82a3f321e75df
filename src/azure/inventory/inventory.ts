/**
 * One inventory per operator process, shared by every reconcile: per subscription, the Logic Apps with their
 * identities and every role assignment; per API service principal, its app-role assignments; service principals by
 * identifier URI or appId. Each is one paged list per refresh (default every 45 s), not a GET per object, so the
 * operator's steady-state reads grow with subscriptions and APIs instead of with bindings.
 *
 * `ports()` is a decorator of AzurePorts that reconcilers cannot tell from the real ports: reads are served from the
 * last list while it is fresh, writes go to Azure and update the lists (read-your-writes), a miss (an object created
 * after the last list) falls through to the real port, and anything the inventory does not hold is passed through
 * with every argument unchanged. Each refresh is diffed against the previous one and what changed is reported to the
 * subscriber, which enqueues exactly the objects that depend on it (see ./depends-on.ts).
 */
import { SharedLoads } from "./shared-loads.ts";
import { isAzureError } from "../errors.ts";
import type {
  AppRoleAssignment,
  AzureListings,
  AzurePorts,
  GraphPort,
  LogicAppObservation,
  LogicAppPort,
  LogicAppWorkflows,
  RoleAssignment,
  RoleAssignmentPort,
  ServicePrincipal,
  WorkflowPort,
} from "../ports.ts";
import { ApimWatch, type ApimChange } from "./apim.ts";
import { withPriority } from "./budget.ts";

export const DEFAULT_INVENTORY_INTERVAL_MS = 45_000;

/** What a refresh saw change; `refs` are the keys of ./depends-on.ts (logic app, principal or API). */
export type InventoryChange =
  | { kind: "logicApp"; id: string; what: "appeared" | "identity" | "gone"; principalIds: string[] }
  | { kind: "roleAssignment"; id: string; scope: string; principalId: string; what: "appeared" | "gone" }
  | {
      kind: "appRoleAssignment";
      id: string;
      resourceId: string;
      principalId: string;
      what: "appeared" | "gone";
    }
  | { kind: "servicePrincipal"; api: string; what: "changed" | "gone" }
  | ApimChange;

/** What one refresh of one source cost (a metric): which kind of source, how long, whether it answered. */
export interface RefreshObservation {
  source: "subscription" | "servicePrincipal" | "apim";
  durationMs: number;
  ok: boolean;
}

export interface InventoryOptions {
  intervalMs?: number;
  /** A list older than this is not served; reads fall through to Azure. Default: 3 intervals. */
  maxAgeMs?: number;
  now?: () => number;
  onChange?: (changes: InventoryChange[]) => void;
  /** A refresh of one source failed; its previous list is kept until it is too old to serve. */
  onError?: (err: unknown, source: string) => void;
  /** Each source's refresh, timed (for /metrics). */
  onRefresh?: (o: RefreshObservation) => void;
}

interface SubscriptionSnapshot {
  takenAt: number;
  logicApps: Map<string, LogicAppObservation>;
  roleAssignments: RoleAssignmentTable;
}

/**
 * A subscription's role assignments by lower-cased id, and the ids of each principal's: every binding pass asks
 * for its principal's grants per scope, and a scan of the subscription's list per ask grew with bindings squared
 * (5,000 bindings hold 10,000 assignments).
 */
export class RoleAssignmentTable extends Map<string, RoleAssignment> {
  readonly #byPrincipal = new Map<string, Set<string>>();

  /** Not `new RoleAssignmentTable(entries)`: Map's constructor calls `set` before the index exists. */
  static of(assignments: readonly RoleAssignment[]): RoleAssignmentTable {
    const t = new RoleAssignmentTable();
    for (const a of assignments) t.set(lower(a.id), a);
    return t;
  }

  override set(id: string, a: RoleAssignment): this {
    const before = super.get(id);
    const p = lower(a.principalId);
    // Another principal under the same id (ARM never does it): a delete and an add, so both orders stay the same.
    if (before && lower(before.principalId) !== p) this.delete(id);
    let ids = this.#byPrincipal.get(p);
    if (!ids) this.#byPrincipal.set(p, (ids = new Set()));
    ids.add(id);
    return super.set(id, a);
  }

  override delete(id: string): boolean {
    const before = super.get(id);
    if (before) this.#unindex(id, before);
    return super.delete(id);
  }

  override clear(): void {
    this.#byPrincipal.clear();
    super.clear();
  }

  /** The principal's assignments (ids compared case-insensitively). */
  ofPrincipal(principalId: string): RoleAssignment[] {
    return [...(this.#byPrincipal.get(lower(principalId)) ?? [])].map((id) => super.get(id)!);
  }

  #unindex(id: string, a: RoleAssignment): void {
    const p = lower(a.principalId);
    const ids = this.#byPrincipal.get(p);
    ids?.delete(id);
    if (ids?.size === 0) this.#byPrincipal.delete(p);
  }
}

interface ApiSnapshot {
  resourceId: string;
  takenAt: number;
  assignments: Map<string, AppRoleAssignment>;
}

const lower = (s: string) => s.toLowerCase();
const subscriptionOf = (scope: string): string | undefined =>
  /^\/?subscriptions\/([^/]+)/i.exec(scope)?.[1]?.toLowerCase();
const normaliseScope = (scope: string): string =>
  `/${scope.replace(/^\/+/, "")}`.replace(/\/+$/, "").toLowerCase();
/** True when `outer` is `inner` or one of its ancestors (ARM scopes are case-insensitive paths). */
const isAtOrAbove = (outer: string, inner: string): boolean => {
  const o = normaliseScope(outer);
  const i = normaliseScope(inner);
  return o === "" || o === i || i.startsWith(`${o}/`);
};

function principalsOf(o: LogicAppObservation | undefined): string[] {
  if (!o?.exists) return [];
  const out = o.identity.principalId ? [lower(o.identity.principalId)] : [];
  for (const u of o.identity.userAssigned) if (u.principalId) out.push(lower(u.principalId));
  return out;
}

function identityKey(o: LogicAppObservation): string {
  return `${o.identity.type}|${principalsOf(o).sort().join(",")}|${o.identity.userAssigned
    .map((u) => lower(u.id))
    .sort()
    .join(",")}`;
}

export class Inventory {
  readonly #inner: AzurePorts;
  readonly #listings: AzureListings;
  readonly #intervalMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #onChange: ((changes: InventoryChange[]) => void) | undefined;
  readonly #onError: ((err: unknown, source: string) => void) | undefined;
  readonly #subLoads = new SharedLoads<SubscriptionSnapshot>();
  readonly #subs = this.#subLoads.installed;
  /** When a first load of a subscription failed: not tried again on demand within one interval. */
  readonly #subFailedAt = new Map<string, number>();
  readonly #apiLoads = new SharedLoads<ApiSnapshot>();
  readonly #apis = this.#apiLoads.installed;
  readonly #sps = new Map<string, ServicePrincipal>();
  readonly #apim: ApimWatch;
  readonly #onRefresh: ((o: RefreshObservation) => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshing: Promise<void> | undefined;
  /** Reads answered from the lists, and those that fell through to Azure (a metric for the benchmark). */
  readonly stats = { hits: 0, misses: 0, refreshes: 0 };

  constructor(inner: AzurePorts, listings: AzureListings, options: InventoryOptions = {}) {
    this.#inner = inner;
    this.#listings = listings;
    this.#intervalMs = options.intervalMs ?? DEFAULT_INVENTORY_INTERVAL_MS;
    this.#maxAgeMs = options.maxAgeMs ?? 3 * this.#intervalMs;
    this.#now = options.now ?? Date.now;
    this.#onChange = options.onChange;
    this.#onError = options.onError;
    this.#onRefresh = options.onRefresh;
    this.#apim = new ApimWatch(listings, {
      now: this.#now,
      fresh: (t) => this.#fresh(t),
      ...(options.onError ? { onError: options.onError } : {}),
      stats: this.stats,
    });
  }

  /** Objects held, by kind (a metric: the inventory's memory grows with these, not with bindings). */
  sizes(): Record<string, number> {
    let logicApps = 0;
    let roleAssignments = 0;
    let appRoleAssignments = 0;
    for (const s of this.#subs.values()) {
      logicApps += s.logicApps.size;
      roleAssignments += s.roleAssignments.size;
    }
    for (const a of this.#apis.values()) appRoleAssignments += a.assignments.size;
    const apim = this.#apim.sizes();
    return {
      logicApps,
      roleAssignments,
      appRoleAssignments,
      servicePrincipals: this.#sps.size,
      apimPolicies: apim.policies,
      apimFragments: apim.fragments,
      workflowDefinitions: this.#definitions.size,
    };
  }

  /** Sets the one subscriber of changes (replacing the one given in the options). */
  subscribe(onChange: (changes: InventoryChange[]) => void): void {
    this.#onChange = onChange;
  }

  /** When each list was taken: the freshness stamps. */
  freshness(): { source: string; takenAt: number }[] {
    const apim = this.#apim.oldest();
    return [
      ...[...this.#subs].map(([s, v]) => ({ source: `subscription/${s}`, takenAt: v.takenAt })),
      ...[...this.#apis].map(([a, v]) => ({ source: `servicePrincipal/${a}`, takenAt: v.takenAt })),
      ...(apim !== undefined ? [{ source: "apim", takenAt: apim }] : []),
    ];
  }

  /** Refreshes on the interval until stop(); the first lists are loaded on demand by the first reads. */
  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#timer = setTimeout(() => {
        void this.refresh().finally(() => {
          if (this.#timer) tick();
        });
      }, this.#intervalMs);
      this.#timer.unref?.();
    };
    tick();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Lists every tracked source again (at background priority), diffs, and reports what changed. */
  refresh(): Promise<void> {
    this.#refreshing ??= withPriority("background", () => this.#refreshAll()).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshAll(): Promise<void> {
    this.stats.refreshes++;
    const changes: InventoryChange[] = [];
    const timed = async (source: RefreshObservation["source"], fn: () => Promise<boolean>): Promise<void> => {
      const t0 = performance.now();
      const ok = await fn();
      this.#onRefresh?.({ source, durationMs: performance.now() - t0, ok });
    };
    await Promise.all([
      ...[...this.#subs.keys()].map((sub) =>
        timed("subscription", async () => {
          const old = this.#subs.get(sub);
          const next = await this.#loadSubscription(sub);
          if (old && next) changes.push(...diffSubscription(old, next));
          return next !== undefined;
        }),
      ),
      ...[...this.#apis.keys()].map((key) =>
        timed("servicePrincipal", async () => {
          const old = this.#apis.get(key)!;
          const next = await this.#loadApi(old.resourceId);
          if (next) changes.push(...diffApi(old, next));
          return next !== undefined;
        }),
      ),
      timed("apim", async () => {
        changes.push(...(await this.#apim.refresh()));
        return true;
      }),
      ...[...this.#sps].map(async ([api, old]) => {
        try {
          const sp = await this.#inner.graph.findServicePrincipal(api);
          if (!sp) {
            this.#sps.delete(api);
            changes.push({ kind: "servicePrincipal", api, what: "gone" });
          } else {
            this.#sps.set(api, sp);
            if (JSON.stringify(sp) !== JSON.stringify(old))
              changes.push({ kind: "servicePrincipal", api, what: "changed" });
          }
        } catch (e) {
          this.#onError?.(e, `servicePrincipal/${api}`);
        }
      }),
    ]);
    if (changes.length > 0) this.#onChange?.(changes);
  }

  #fresh(takenAt: number): boolean {
    return this.#now() - takenAt <= this.#maxAgeMs;
  }

  /** Lists a subscription, replaying writes made while the list was in flight so they are not lost. */
  #loadSubscription(sub: string): Promise<SubscriptionSnapshot | undefined> {
    return this.#subLoads.load(sub, async (replay) => {
      try {
        const startedAt = this.#now();
        const [apps, assignments] = await Promise.all([
          this.#listings.listLogicApps(sub),
          this.#listings.listRoleAssignments(sub),
        ]);
        const snap: SubscriptionSnapshot = {
          takenAt: startedAt,
          logicApps: new Map(apps.map((a) => [lower(a.id), a.observation])),
          roleAssignments: RoleAssignmentTable.of(assignments),
        };
        // The list already carries Consumption definitions: the workflow check reads them from here (issue 14).
        for (const a of apps)
          if (a.workflows && a.observation.version)
            this.#definitions.set(lower(a.id), { version: a.observation.version, value: a.workflows });
        // A deleted Logic App's definitions (the largest thing held per app) go with it, not at restart.
        const prefix = `/subscriptions/${lower(sub)}/`;
        for (const id of this.#definitions.keys())
          if (id.startsWith(prefix) && !snap.logicApps.has(id)) this.#definitions.delete(id);
        this.#subFailedAt.delete(sub);
        return replay(snap);
      } catch (e) {
        this.#subFailedAt.set(sub, this.#now());
        this.#onError?.(e, `subscription/${sub}`);
        return undefined;
      }
    });
  }

  /**
   * Lists an API's assignments, replaying writes made while the list was in flight. Callers share the list in
   * flight (32 workers meeting a stale list each started their own: at 5,000 bindings, 50 pages each, and with one
   * journal per API the write one of them journaled was lost when another list finished last). `fresh` starts a
   * new list even so (after a 409, the list must have started after it; SharedLoads keeps the overlap safe).
   */
  #loadApi(resourceId: string, opts: { fresh?: boolean } = {}): Promise<ApiSnapshot | undefined> {
    return this.#apiLoads.load(
      lower(resourceId),
      async (replay) => {
        const startedAt = this.#now();
        try {
          const list = await this.#inner.graph.listAppRoleAssignedTo(resourceId);
          return replay({
            resourceId,
            takenAt: startedAt,
            assignments: new Map(list.map((a) => [lower(a.id), a])),
          });
        } catch (e) {
          // The API's service principal is gone, and its assignments with it.
          if (isAzureError(e, "NotFound")) return { resourceId, takenAt: startedAt, assignments: new Map() };
          this.#onError?.(e, `servicePrincipal/${resourceId}`);
          return undefined;
        }
      },
      opts,
    );
  }

  /** The subscription's list if fresh, loading it on first use (concurrent callers share one load). */
  async #subscription(scope: string): Promise<SubscriptionSnapshot | undefined> {
    const sub = subscriptionOf(scope);
    if (!sub) return undefined;
    let snap = this.#subs.get(sub);
    if (!snap) {
      const failedAt = this.#subFailedAt.get(sub);
      // A subscription we may not list (or that does not exist) is read per object, not re-listed on every read.
      if (failedAt !== undefined && this.#now() - failedAt < this.#intervalMs) return undefined;
      snap = await this.#loadSubscription(sub);
    }
    return snap && this.#fresh(snap.takenAt) ? snap : undefined;
  }

  /** Applies a write to the list now and to any list still in flight (read-your-writes). */
  #recordSub(scope: string, change: (s: SubscriptionSnapshot) => void): void {
    const sub = subscriptionOf(scope);
    if (sub) this.#subLoads.record(sub, change);
  }

  #recordApi(resourceId: string, change: (s: ApiSnapshot) => void): void {
    this.#apiLoads.record(lower(resourceId), change);
  }

  async #relistScope(scope: string): Promise<void> {
    try {
      const now = await this.#inner.roleAssignments.listAtScope(scope);
      this.#recordSub(scope, (s) => {
        for (const a of now) s.roleAssignments.set(lower(a.id), a);
      });
    } catch (e) {
      this.#onError?.(e, `scope/${scope}`);
    }
  }

  /** The decorated ports. */
  /** Definitions read per Logic App, with the listed version they were read at (issue 14). */
  readonly #definitions = new Map<string, { version: string; value: LogicAppWorkflows | undefined }>();

  #cachedWorkflows(inner: WorkflowPort): WorkflowPort {
    const read = this.#definitions;
    return {
      readDefinitions: async (logicAppId, ...rest: unknown[]) => {
        const version = (await this.#subscription(logicAppId))?.logicApps.get(lower(logicAppId))?.version;
        const cached = read.get(lower(logicAppId));
        if (version !== undefined && cached?.version === version) return structuredClone(cached.value);
        const value = await inner.readDefinitions(logicAppId, ...(rest as []));
        if (version !== undefined) read.set(lower(logicAppId), { version, value });
        return value;
      },
    };
  }

  ports(): AzurePorts {
    const inner = this.#inner;
    const logicApps: LogicAppPort = {
      observe: async (logicAppId, ...rest: unknown[]) => {
        const snap = await this.#subscription(logicAppId);
        const hit = snap?.logicApps.get(lower(logicAppId));
        if (hit) {
          this.stats.hits++;
          return structuredClone(hit);
        }
        this.stats.misses++;
        // Created after the last list, or not a Logic App kind the lists cover: ask Azure, remember what exists.
        const got = await inner.logicApps.observe(logicAppId, ...(rest as []));
        if (got.exists) this.#recordSub(logicAppId, (s) => s.logicApps.set(lower(logicAppId), got));
        return got;
      },
      setIdentity: async (logicAppId, desired, expectedVersion, ...rest: unknown[]) => {
        try {
          const after = await inner.logicApps.setIdentity(
            logicAppId,
            desired,
            expectedVersion,
            ...(rest as []),
          );
          this.#recordSub(logicAppId, (s) => s.logicApps.set(lower(logicAppId), after));
          // An identity-only PUT made against the version the definitions were read at does not change them.
          const defs = this.#definitions.get(lower(logicAppId));
          if (defs && expectedVersion !== undefined && defs.version === expectedVersion && after.version)
            this.#definitions.set(lower(logicAppId), { ...defs, version: after.version });
          return after;
        } catch (e) {
          // The list was stale (someone else changed the app): the next observe reads it from Azure.
          this.#recordSub(logicAppId, (s) => s.logicApps.delete(lower(logicAppId)));
          throw e;
        }
      },
    };
    const roleAssignments: RoleAssignmentPort = {
      listForPrincipal: async (scope, principalId, ...rest: unknown[]) => {
        const snap = await this.#subscription(scope);
        if (!snap) {
          this.stats.misses++;
          return inner.roleAssignments.listForPrincipal(scope, principalId, ...(rest as []));
        }
        this.stats.hits++;
        return snap.roleAssignments
          .ofPrincipal(principalId)
          .filter((a) => isAtOrAbove(a.scope, scope))
          .map((a) => ({ ...a }));
      },
      listAtScope: async (scope, ...rest: unknown[]) => {
        const snap = await this.#subscription(scope);
        if (!snap) {
          this.stats.misses++;
          return inner.roleAssignments.listAtScope(scope, ...(rest as []));
        }
        this.stats.hits++;
        const want = normaliseScope(scope);
        return [...snap.roleAssignments.values()]
          .filter((a) => normaliseScope(a.scope) === want)
          .map((a) => ({ ...a }));
      },
      create: async (assignment, ...rest: unknown[]) => {
        let created: RoleAssignment;
        try {
          created = await inner.roleAssignments.create(assignment, ...(rest as []));
        } catch (e) {
          // Made by someone else after the last list: learn what is at the scope now, so the next round sees it.
          if (isAzureError(e, "Exists")) await this.#relistScope(assignment.scope);
          throw e;
        }
        this.#recordSub(created.scope || assignment.scope, (s) =>
          s.roleAssignments.set(lower(created.id), created),
        );
        return created;
      },
      delete: async (id, ...rest: unknown[]) => {
        await inner.roleAssignments.delete(id, ...(rest as []));
        this.#recordSub(id, (s) => s.roleAssignments.delete(lower(id)));
      },
    };
    const graph: GraphPort = {
      findServicePrincipal: async (api, ...rest: unknown[]) => {
        const hit = this.#sps.get(api);
        if (hit) {
          this.stats.hits++;
          return structuredClone(hit);
        }
        this.stats.misses++;
        // Only hits are remembered: an API registered a minute from now must be found then.
        const sp = await inner.graph.findServicePrincipal(api, ...(rest as []));
        if (sp) this.#sps.set(api, sp);
        return sp;
      },
      listAppRoleAssignedTo: async (resourceId, ...rest: unknown[]) => {
        const key = lower(resourceId);
        let snap = this.#apis.get(key);
        if (!snap || !this.#fresh(snap.takenAt)) {
          this.stats.misses++;
          // A first read lists it for everyone (one list either way) and starts tracking it.
          snap = await this.#loadApi(resourceId);
          if (!snap) return inner.graph.listAppRoleAssignedTo(resourceId, ...(rest as []));
        } else this.stats.hits++;
        return [...snap.assignments.values()].map((a) => ({ ...a }));
      },
      createAppRoleAssignment: async (resourceId, principalId, appRoleId, ...rest: unknown[]) => {
        let created: AppRoleAssignment;
        try {
          created = await inner.graph.createAppRoleAssignment(
            resourceId,
            principalId,
            appRoleId,
            ...(rest as []),
          );
        } catch (e) {
          if (isAzureError(e, "Exists") && this.#apis.has(lower(resourceId)))
            await this.#loadApi(resourceId, { fresh: true });
          throw e;
        }
        this.#recordApi(resourceId, (s) => s.assignments.set(lower(created.id), created));
        return created;
      },
      deleteAppRoleAssignment: async (resourceId, assignmentId, ...rest: unknown[]) => {
        await inner.graph.deleteAppRoleAssignment(resourceId, assignmentId, ...(rest as []));
        this.#recordApi(resourceId, (s) => s.assignments.delete(lower(assignmentId)));
      },
    };
    return {
      logicApps,
      roleAssignments,
      graph,
      userAssignedIdentities: inner.userAssignedIdentities,
      roleDefinitions: inner.roleDefinitions,
      // Application registrations are read and written by their own kind, not observed in bulk.
      applications: inner.applications,
      apim: this.#apim.port(inner.apim),
      // Workflow definitions are read per binding pass (issue 14), not listed in bulk; a Logic App whose listed
      // version (Consumption: changedTime, which every save moves) is the one already read is served from memory.
      ...(inner.workflows ? { workflows: this.#cachedWorkflows(inner.workflows) } : {}),
      ...(inner.connections ? { connections: inner.connections } : {}),
      // Read-only lists and service GETs, not held: passed through (the workflow check caches gateway hosts itself).
      ...(inner.apimChain ? { apimChain: inner.apimChain } : {}),
    };
  }
}

/** What is in `next` and not in `old` ("appeared"), and the reverse ("gone"), keyed by ID. */
function appearedAndGone<V>(
  old: Map<string, V>,
  next: Map<string, V>,
  report: (id: string, v: V, what: "appeared" | "gone") => InventoryChange,
): InventoryChange[] {
  const out: InventoryChange[] = [];
  for (const [id, v] of old) if (!next.has(id)) out.push(report(id, v, "gone"));
  for (const [id, v] of next) if (!old.has(id)) out.push(report(id, v, "appeared"));
  return out;
}

function diffSubscription(old: SubscriptionSnapshot, next: SubscriptionSnapshot): InventoryChange[] {
  const out = appearedAndGone(old.logicApps, next.logicApps, (id, o, what) => ({
    kind: "logicApp",
    id,
    what,
    principalIds: principalsOf(o),
  }));
  for (const [id, o] of old.logicApps) {
    const n = next.logicApps.get(id);
    if (n && identityKey(o) !== identityKey(n))
      out.push({
        kind: "logicApp",
        id,
        what: "identity",
        principalIds: [...new Set([...principalsOf(o), ...principalsOf(n)])],
      });
  }
  out.push(
    ...appearedAndGone(old.roleAssignments, next.roleAssignments, (id, a, what) => ({
      kind: "roleAssignment",
      id,
      scope: a.scope,
      principalId: lower(a.principalId),
      what,
    })),
  );
  return out;
}

function diffApi(old: ApiSnapshot, next: ApiSnapshot): InventoryChange[] {
  const resourceId = lower(next.resourceId);
  return appearedAndGone(old.assignments, next.assignments, (id, a, what) => ({
    kind: "appRoleAssignment",
    id,
    resourceId,
    principalId: lower(a.principalId),
    what,
  }));
}
