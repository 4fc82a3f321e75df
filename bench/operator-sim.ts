/**
 * The operator's Azure side without Kubernetes, for benchmarks: a de-duplicating work queue with a worker pool, the
 * binding reconciler's Kubernetes-free core (./core.ts), per-object resync timers, and either the inventory (with
 * change → enqueue through the same KeyIndex and dependency function the operator uses) or per-object polling.
 * Time runs `timeScale` times faster than reported: every interval, Retry-After and rate is scaled, and every
 * duration is reported in unscaled seconds.
 */
import type { RunningEmulator } from "../emulator/index.ts";
import { rfc3339, type LogicAppIdentityBinding } from "../src/api/v1alpha1/index.ts";
import { createAzurePorts } from "../src/azure/clients.ts";
import { createCredential } from "../src/azure/credential.ts";
import { isAzureError } from "../src/azure/errors.ts";
import { AzureBudget, DEFAULT_BUDGET, scaledBudget } from "../src/azure/inventory/budget.ts";
import { bindingDependsOn, changeRefs } from "../src/azure/inventory/depends-on.ts";
import { Inventory } from "../src/azure/inventory/inventory.ts";
import type { AzurePorts } from "../src/azure/ports.ts";
import type { InformerHandler } from "../src/runtime/informer.ts";
import { KeyIndex } from "../src/runtime/key-index.ts";
import { converge, recheckAfterMs } from "./core.ts";
import { fragmentIds, JwtSim, seedPinnedPolicies, type ApimIds } from "./jwt-sim.ts";
import { SimQueue } from "./sim-queue.ts";

export type Mode = "inventory" | "polling";

export interface World {
  bindings: Map<string, LogicAppIdentityBinding>;
  subscriptions: string[];
  /** The scenario's APIM service and API (pinned ApimJwtPolicies go on operations of it). */
  apim: ApimIds;
}

/** N Consumption Logic Apps without identity over `subs` subscriptions; each binding: identity + 2 RBAC + 1 app role. */
export async function seedWorld(emu: RunningEmulator, n: number, subs: number): Promise<World> {
  await emu.control.reset();
  const ids = await emu.control.seedScenario();
  const subscriptions = [ids.subscriptionId];
  for (let s = 1; s < subs; s++) {
    const { subscriptionId } = await emu.control.seedSubscription({});
    await emu.control.seedResourceGroup({ subscriptionId, name: ids.resourceGroup });
    subscriptions.push(subscriptionId);
  }
  const bindings = new Map<string, LogicAppIdentityBinding>();
  for (let i = 0; i < n; i++) {
    const subscriptionId = subscriptions[i % subs]!;
    const app = await emu.control.seedLogicApp({
      subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: `wf-${i}`,
    });
    const rg = `/subscriptions/${subscriptionId}/resourceGroups/${ids.resourceGroup}`;
    bindings.set(`bench/wf-${i}`, {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "LogicAppIdentityBinding",
      metadata: { name: `wf-${i}`, namespace: "bench", uid: `uid-${i}`, generation: 1 },
      spec: {
        logicAppId: app.id,
        identity: { type: "SystemAssigned" },
        roleAssignments: [
          { scope: `${rg}/providers/Microsoft.KeyVault/vaults/kv-${i}`, role: "Key Vault Secrets User" },
          { scope: `${rg}/providers/Microsoft.Storage/storageAccounts/st${i}`, role: "Reader" },
        ],
        appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
      },
    });
  }
  return {
    bindings,
    subscriptions,
    apim: { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId, tenantId: ids.tenantId },
  };
}

export interface SimOptions {
  mode: Mode;
  timeScale: number;
  concurrency: number;
  /** Unscaled. Default: 10 min polling (the operator's default resync), 6 h with the inventory (a safety net). */
  resyncMs?: number;
  /** Unscaled; default 45 s. */
  inventoryIntervalMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PassRecord {
  key: string;
  /** Wall-clock ms when the pass finished. */
  at: number;
  ok: boolean;
  principalId: string | undefined;
  healed: boolean;
}

/** The simulated operator; `start()` runs workers until `stop()`. */
export class SimOperator {
  readonly world: World;
  readonly opts: Required<SimOptions>;
  readonly budget: AzureBudget;
  readonly direct: ReturnType<typeof createAzurePorts>;
  readonly inventory: Inventory | undefined;
  readonly ports: AzurePorts;
  /** Keys that ever ended a pass stopped by a 429 (Throttled): the "failures because of 429". */
  readonly throttledKeys = new Set<string>();
  readonly passes: PassRecord[] = [];
  /** Keys that ended a pass healed (Ready, every grant on the current principal) at least once. */
  readonly readyKeys = new Set<string>();
  readonly #queue: SimQueue;
  /** Each key's last pass, as `whereIs` reports it. */
  readonly #last = new Map<string, string>();
  readonly #index: KeyIndex<LogicAppIdentityBinding> | undefined;
  #feed: InformerHandler<LogicAppIdentityBinding> | undefined;
  /** Called with each status a pass writes (the operator's binding watch, as the JWT controller sees it). */
  onStatus: ((key: string, b: LogicAppIdentityBinding) => void) | undefined;

  constructor(emu: RunningEmulator, world: World, opts: SimOptions) {
    this.world = world;
    this.opts = {
      resyncMs: opts.mode === "inventory" ? 6 * 3_600_000 : 600_000,
      inventoryIntervalMs: 45_000,
      ...opts,
    };
    this.#queue = new SimQueue(opts.timeScale, (key) => this.#reconcile(key));
    this.budget = new AzureBudget(scaledBudget(opts.timeScale));
    this.direct = createAzurePorts({
      credential: createCredential("static"),
      armEndpoint: emu.url,
      graphEndpoint: emu.url,
      tlsCa: emu.caPem,
      lroPollIntervalMs: 10,
      budget: this.budget,
    });
    if (opts.mode === "inventory") {
      this.inventory = new Inventory(this.direct, this.direct.listings, {
        intervalMs: this.opts.inventoryIntervalMs / opts.timeScale,
      });
      this.#index = new KeyIndex<LogicAppIdentityBinding>({ on: (h) => (this.#feed = h) }, bindingDependsOn);
      for (const b of world.bindings.values()) this.#feed!("add", b);
      this.inventory.subscribe((changes) => {
        for (const k of this.#index!.keysFor(changes.flatMap(changeRefs))) this.enqueue(k);
      });
      this.ports = this.inventory.ports();
    } else this.ports = this.direct;
  }

  /** Failed passes by reason. */
  get failures(): ReadonlyMap<string, number> {
    return this.#queue.failures;
  }

  start(): void {
    this.#queue.start(this.opts.concurrency);
    this.inventory?.start();
  }

  async stop(): Promise<void> {
    this.inventory?.stop();
    await this.#queue.stop();
  }

  enqueue(key: string): void {
    this.#queue.enqueue(key);
  }

  /**
   * Where a key is in the queue machinery and how its last pass ended: what a run whose cold start stops short
   * of every key prints about the keys left behind (queued, in a pass since when, waiting on a timer, or nowhere).
   */
  whereIs(key: string): string {
    return `${key}: ${this.#queue.whereIs(key)}; last pass: ${this.#last.get(key) ?? "none"}`;
  }

  idle(): boolean {
    return this.#queue.idle();
  }

  async #reconcile(key: string): Promise<void> {
    const b = this.world.bindings.get(key)!;
    const r = await converge(b, this.ports, { now: () => rfc3339(new Date()), replicationPollMs: 1000 });
    const status = r.status;
    const ok = !r.stoppedBy && !!status;
    if (status) {
      // The index forgets what the binding depended on from the object the update replaces, as an informer hands it.
      const old = { ...b };
      b.status = status;
      this.#feed?.("update", b, old);
      this.onStatus?.(key, b);
    }
    const p = status?.principalId;
    const record: PassRecord = {
      key,
      at: Date.now(),
      ok,
      principalId: p,
      healed:
        ok &&
        !!p &&
        (status.roleAssignments ?? []).length === 2 &&
        (status.roleAssignments ?? []).every((e) => e.principalId === p) &&
        (status.appRoleAssignments ?? []).every((e) => e.principalId === p) &&
        (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    };
    this.passes.push(record);
    if (record.healed) this.readyKeys.add(key);
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    this.#last.set(
      key,
      JSON.stringify({
        ok,
        healed: record.healed,
        ready: ready ? `${ready.status}/${ready.reason}: ${ready.message}` : undefined,
        pending: r.decision?.actions.map((a) => a.type),
        requeueAfterMs: r.decision?.requeueAfterMs,
        stalled: r.decision?.stalled,
        stoppedBy: r.stoppedBy?.message,
        grants: status?.grants,
      }),
    );
    if (r.stoppedBy) {
      if (isAzureError(r.stoppedBy, "Throttled")) this.throttledKeys.add(key);
      this.#queue.failed(key, r.stoppedBy);
      return;
    }
    // The engine's rule (stalled, waiting, or rounds ran out with writes pending), else the jittered resync.
    const again = r.decision ? recheckAfterMs(r.decision) : undefined;
    this.#queue.succeeded(key, again ?? this.opts.resyncMs * (0.9 + Math.random() * 0.2));
  }

  /** Waits until `done()` holds, polling every 20 ms of wall time; throws after `timeoutMs` of wall time. */
  async until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > end) throw new Error(`benchmark: timed out waiting for ${what}`);
      await sleep(20);
    }
  }
}

export interface RequestCounts {
  total: number;
  armReads: number;
  armWrites: number;
  graphReads: number;
  graphWrites: number;
  throttled: number;
}

const zero = (): RequestCounts => ({
  total: 0,
  armReads: 0,
  armWrites: 0,
  graphReads: 0,
  graphWrites: 0,
  throttled: 0,
});

/**
 * Counts what the emulator's request log records, read as it grows. The emulator keeps only its last 20,000
 * entries (emulator/request-log.ts) and a cold start of 1,000 bindings already sends about that many (the polling
 * baseline's 1,000-binding row was counted from a trimmed log), so the log is drained every second of wall time by
 * sequence number, and a gap between two drains (entries trimmed before they were read) fails the benchmark rather
 * than undercount. Windows are started with `restart()`, never with the emulator's log reset.
 */
export class RequestCounter {
  readonly #emu: RunningEmulator;
  #since = 0;
  #counts = zero();
  /** ARM writes per subscription: the write floor is per subscription (ARM's buckets are). */
  #writesPerSub = new Map<string, number>();
  #chain: Promise<void> = Promise.resolve();
  readonly #timer: ReturnType<typeof setInterval>;

  private constructor(emu: RunningEmulator, drainEveryMs: number) {
    this.#emu = emu;
    // A failed drain leaves #chain rejected: the next counts() or restart() throws it.
    this.#timer = setInterval(() => void this.#drain().catch(() => undefined), drainEveryMs);
    this.#timer.unref();
  }

  /** Counts from now on (earlier entries are dropped from the emulator's log first). */
  static async start(emu: RunningEmulator, drainEveryMs = 1000): Promise<RequestCounter> {
    await emu.control.resetLog();
    return new RequestCounter(emu, drainEveryMs);
  }

  #drain(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      const entries = await this.#emu.control.requestLog({ since: this.#since });
      if (entries.length === 0) return;
      if (this.#since > 0 && entries[0]!.seq !== this.#since + 1)
        throw new Error(
          `benchmark: the emulator's request log dropped entries ${this.#since + 1}–${entries[0]!.seq - 1} before they were counted`,
        );
      const c = this.#counts;
      for (const e of entries) {
        c.total++;
        if (e.status === 429) {
          c.throttled++;
          continue;
        }
        // HEAD (the APIM ETag checks) is a read, as ARM counts it.
        const read = e.method === "GET" || e.method === "HEAD";
        if (e.api === "arm") {
          if (read) c.armReads++;
          else {
            c.armWrites++;
            if (e.subscriptionId)
              this.#writesPerSub.set(e.subscriptionId, (this.#writesPerSub.get(e.subscriptionId) ?? 0) + 1);
          }
        } else if (e.api === "graph") {
          if (read) c.graphReads++;
          else c.graphWrites++;
        }
      }
      this.#since = entries.at(-1)!.seq;
    });
    return this.#chain;
  }

  /** Everything sent since the last `restart()` (or `start`). */
  async counts(): Promise<RequestCounts> {
    await this.#drain();
    return { ...this.#counts };
  }

  /** The floor ARM writes set since the last restart: (writes − 200 burst) ÷ 10 per s, per subscription. */
  async writeFloorSeconds(): Promise<number> {
    await this.#drain();
    return Math.max(0, ...[...this.#writesPerSub.values()].map((w) => Math.max(0, w - 200) / 10));
  }

  /** Starts a new window: what was sent until now is counted and forgotten. */
  async restart(): Promise<void> {
    await this.#drain();
    this.#counts = zero();
    this.#writesPerSub.clear();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** ARM's published limits, scaled: what the emulator enforces during a benchmark. */
export async function armThrottling(emu: RunningEmulator, timeScale: number): Promise<void> {
  await emu.control.setConfig({
    throttling: {
      enabled: true,
      reads: { capacity: 250, refillPerSecond: 25 * timeScale },
      writes: { capacity: 200, refillPerSecond: 10 * timeScale },
      deletes: { capacity: 200, refillPerSecond: 10 * timeScale },
    },
  });
}

export interface ScenarioResult {
  mode: Mode;
  bindings: number;
  subscriptions: number;
  coldStartSeconds: number;
  floorSeconds: number;
  /**
   * The floor the Graph writes set at the operator's own Graph budget (one per tenant, however many subscriptions):
   * (writes − burst) ÷ rate. Above the ARM floor once bindings are spread over enough subscriptions.
   */
  graphFloorSeconds: number;
  coldStart: RequestCounts;
  /** One refresh of the inventory (0 for polling). */
  refresh: RequestCounts;
  /** Everything sent during the steady-state window (429s included in `throttled`). */
  steady: RequestCounts;
  /** One pass over every binding, when `countPass`. */
  pass: RequestCounts | undefined;
  readsPerHour: number;
  writesPerHour: number;
  healP50Seconds: number | undefined;
  healP95Seconds: number | undefined;
  healMaxSeconds: number | undefined;
  /** What the heal measured (undefined when it was not run). */
  heal: HealResult | undefined;
  throttledObjects: number;
  failures: Record<string, number>;
}

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Cold start → steady-state counts → heal of `healFraction` of the identities recreated at random times within one
 * (unscaled) minute. `heal: false` skips the heal (the CI version).
 */
export async function runScenario(
  emu: RunningEmulator,
  o: SimOptions & {
    bindings: number;
    subscriptions: number;
    heal?: boolean;
    healFraction?: number;
    /** Pin an ApimJwtPolicy to each binding whose identity the heal recreates (default true). */
    apim?: boolean;
    /** Unscaled minutes of steady state counted; default 10. */
    steadyMinutes?: number;
    /** Also count one pass over every binding (needs the queue to drain: not for saturated polling). */
    countPass?: boolean;
  },
): Promise<ScenarioResult> {
  const world = await seedWorld(emu, o.bindings, o.subscriptions);
  await armThrottling(emu, o.timeScale);
  const counter = await RequestCounter.start(emu);
  const sim = new SimOperator(emu, world, o);
  const keys = [...world.bindings.keys()];
  const t0 = Date.now();
  // Progress on stderr every minute of wall time: a large run is otherwise silent for tens of minutes. When no key
  // became Ready in a minute, where the ones left are (at most 5).
  let readyBefore = -1;
  const progress = setInterval(() => {
    const stalled = sim.readyKeys.size === readyBefore && sim.readyKeys.size < keys.length;
    readyBefore = sim.readyKeys.size;
    void counter.counts().then(
      (c) => {
        console.error(
          `${o.mode} ${o.bindings}/${o.subscriptions}: ${Math.round((Date.now() - t0) / 1000)} s wall, ${sim.readyKeys.size} ever ready, ${sim.passes.length} passes, ${c.total} requests (${c.throttled} 429)`,
        );
        if (stalled)
          for (const k of keys.filter((k) => !sim.readyKeys.has(k)).slice(0, 5))
            console.error(`  not ready: ${sim.whereIs(k)}`);
      },
      () => undefined,
    );
  }, 60_000);
  progress.unref();
  sim.start();
  for (const k of keys) sim.enqueue(k);
  await sim.until("cold start", () => sim.readyKeys.size === keys.length, 3_600_000);
  const coldStartSeconds = ((Date.now() - t0) * o.timeScale) / 1000;
  const coldStart = await counter.counts();
  const floorSeconds = await counter.writeFloorSeconds();

  // One refresh, counted on its own (what reads per refresh cost). The interval timer is paused and any refresh in
  // flight drained first: at a high time scale the timer fires every second, and a refresh joined half-way would be
  // counted half (the CI count test failed that way under load).
  sim.inventory?.stop();
  if (sim.inventory) await sim.inventory.refresh();
  await counter.restart();
  if (sim.inventory) await sim.inventory.refresh();
  const refresh = await counter.counts();
  sim.inventory?.start();
  // Optionally, one pass over every binding, counted (the CI version: counts that do not depend on timing).
  let pass: RequestCounts | undefined;
  if (o.countPass) {
    await sim.until("queue idle", () => sim.idle(), 600_000);
    await counter.restart();
    for (const k of keys) sim.enqueue(k);
    await sim.until("one pass", () => sim.idle(), 600_000);
    pass = await counter.counts();
  }
  // Steady state: everything the operator sends during a window of `steadyMinutes` (unscaled), per hour.
  const windowMs = (o.steadyMinutes ?? 10) * 60_000;
  await counter.restart();
  await sleep(windowMs / o.timeScale);
  const steady = await counter.counts();
  const perHour = 3_600_000 / windowMs;
  const readsPerHour = Math.round(perHour * (steady.armReads + steady.graphReads));
  const writesPerHour = Math.round(perHour * (steady.armWrites + steady.graphWrites));

  let heal: HealResult | undefined;
  if (o.heal !== false) heal = await measureHeal(emu, sim, keys, o, counter);
  await sim.stop();
  clearInterval(progress);
  counter.stop();
  console.error(
    `scenario done: ${o.mode} ${o.bindings} bindings / ${o.subscriptions} subs, cold start ${coldStartSeconds.toFixed(0)} s (floor ${floorSeconds.toFixed(0)} s)`,
  );
  return {
    mode: o.mode,
    bindings: o.bindings,
    subscriptions: o.subscriptions,
    coldStartSeconds,
    floorSeconds,
    graphFloorSeconds:
      Math.max(0, coldStart.graphWrites - DEFAULT_BUDGET.graphWrites.capacity) /
      DEFAULT_BUDGET.graphWrites.refillPerSecond,
    coldStart,
    refresh,
    steady,
    pass,
    readsPerHour,
    writesPerHour,
    healP50Seconds: percentile(heal?.seconds ?? [], 50),
    healP95Seconds: percentile(heal?.seconds ?? [], 95),
    healMaxSeconds: heal?.seconds.at(-1),
    heal,
    throttledObjects: sim.throttledKeys.size,
    failures: Object.fromEntries(sim.failures),
  };
}

export interface HealResult {
  victims: number;
  /** Unscaled seconds from each recreation until Azure held the healed state (sorted). */
  seconds: number[];
  /** The same, for the grants alone (RBAC and app role on the new principal, none on the old; sorted). */
  grantsSeconds: number[];
  /** The same, for the pinned APIM rules alone (sorted; empty without `apim`). */
  apimSeconds: number[];
  /** Role assignments still on an old principal when the heal was over (must be 0: the sweep). */
  orphansLeft: number;
  /** Everything sent from the first recreation until the last victim was healed (refreshes included). */
  requests: RequestCounts;
  /** ApimJwtPolicy passes that ended failed, by reason (429s included: they only delay). */
  jwtFailures: Record<string, number>;
}

/**
 * Identities of `healFraction` of the bindings (every n-th, so the pinned policies are known in advance) recreated
 * at random times within one (unscaled) minute, behind the operator's back. A victim counts as healed when Azure —
 * the emulator's state, not the operator's status — holds all of: its two RBAC grants and its app-role grant on the
 * new principal, no role assignment left on the old one (swept), and, with `apim`, its pinned rule's fragment
 * naming the new principal.
 */
async function measureHeal(
  emu: RunningEmulator,
  sim: SimOperator,
  keys: string[],
  o: { timeScale: number; healFraction?: number; apim?: boolean },
  counter: RequestCounter,
): Promise<HealResult> {
  const world = sim.world;
  const every = Math.max(1, Math.round(1 / (o.healFraction ?? 0.1)));
  const victims = keys.filter((_, i) => i % every === 0);
  let jwt: JwtSim | undefined;
  let fragments = new Map<string, string>();
  const fragmentNames = async (): Promise<Map<string, string>> =>
    new Map(
      (await emu.control.listPolicyFragments(world.apim.serviceId)).map(
        (f) => [f.fragmentId, f.xml] as const,
      ),
    );
  const principalOf = (k: string) => world.bindings.get(k)!.status?.principalId;
  if (o.apim !== false) {
    const policies = await seedPinnedPolicies(emu, world.apim, world.bindings, victims);
    fragments = fragmentIds(policies);
    jwt = new JwtSim(sim, policies);
    jwt.start();
    // Installed first (the pinned rule names the current principal), so the heal measures only the follow-up.
    const installedBy = Date.now() + 600_000;
    for (;;) {
      const held = await fragmentNames();
      if (victims.every((k) => held.get(fragments.get(k)!)?.includes(`<value>${principalOf(k)}</value>`)))
        break;
      if (Date.now() > installedBy) throw new Error("benchmark: timed out installing the pinned APIM rules");
      await sleep(100);
    }
  }
  await counter.restart();
  const recreatedAt = new Map<string, { at: number; old: string; principal: string }>();
  const recreations = Promise.all(
    victims.map(async (k) => {
      await sleep((Math.random() * 60_000) / o.timeScale);
      const id = world.bindings.get(k)!.spec.logicAppId;
      const old = principalOf(k)!;
      await emu.control.setLogicAppIdentity(id, { type: "None" });
      const after = await emu.control.setLogicAppIdentity(id, { type: "SystemAssigned" });
      recreatedAt.set(k, { at: Date.now(), old, principal: after.identity.principalId! });
    }),
  );
  const healedAt = new Map<string, number>();
  const apimAt = new Map<string, number>();
  const grantsAt = new Map<string, number>();
  const bound =
    (sim.opts.mode === "inventory" ? 4 * sim.opts.inventoryIntervalMs : 2 * sim.opts.resyncMs) / o.timeScale +
    120_000;
  const end = Date.now() + 60_000 / o.timeScale + bound;
  let orphansLeft: number;
  for (;;) {
    const now = Date.now();
    const [rbac, appRoles, held] = await Promise.all([
      emu.control.listRoleAssignments(),
      emu.control.listAppRoleAssignments(),
      jwt ? fragmentNames() : Promise.resolve(new Map<string, string>()),
    ]);
    const rbacBy = new Map<string, number>();
    for (const a of rbac)
      rbacBy.set(a.properties.principalId, (rbacBy.get(a.properties.principalId) ?? 0) + 1);
    const appBy = new Set(appRoles.map((a) => a.principalId));
    orphansLeft = 0;
    for (const [k, r] of recreatedAt) {
      orphansLeft += rbacBy.get(r.old) ?? 0;
      const apimOk = !jwt || !!held.get(fragments.get(k)!)?.includes(`<value>${r.principal}</value>`);
      if (apimOk && !apimAt.has(k)) apimAt.set(k, now);
      const grantsOk = rbacBy.get(r.principal) === 2 && appBy.has(r.principal) && !rbacBy.has(r.old);
      if (grantsOk && !grantsAt.has(k)) grantsAt.set(k, now);
      if (grantsOk && apimOk && !healedAt.has(k)) healedAt.set(k, now);
    }
    if (recreatedAt.size === victims.length && healedAt.size === victims.length) break;
    if (Date.now() > end)
      throw new Error(`benchmark: timed out waiting for heal (${healedAt.size}/${victims.length})`);
    await sleep(100);
  }
  await recreations;
  const requests = await counter.counts();
  await jwt?.stop();
  const unscaled = (m: Map<string, number>) =>
    victims.map((k) => ((m.get(k)! - recreatedAt.get(k)!.at) * o.timeScale) / 1000).sort((a, b) => a - b);
  return {
    victims: victims.length,
    seconds: unscaled(healedAt),
    grantsSeconds: unscaled(grantsAt),
    apimSeconds: jwt ? unscaled(apimAt) : [],
    orphansLeft,
    requests,
    jwtFailures: Object.fromEntries(jwt?.failures ?? []),
  };
}
