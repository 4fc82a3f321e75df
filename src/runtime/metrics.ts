/**
 * Prometheus metrics with bounded label sets. Other layers record through the narrow `OperatorMetrics` interface
 * (injected), never through prom-client directly, so labels stay bounded in one place.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { QueueObserver } from "./workqueue.ts";

export type ReconcileOutcome = "success" | "requeue" | "error" | "retry_after" | "terminal" | "skipped";

export interface ExternalCall {
  /** e.g. "arm", "graph", "apim" — a small fixed set chosen by the caller's layer. */
  service: string;
  /** e.g. "roleAssignments.create" — code-defined, never derived from user input. */
  operation: string;
  /** HTTP status, or 0 for a transport error. */
  statusCode: number;
  durationMs?: number;
}

/** What the Azure side (and reconcilers) may record. */
export interface OperatorMetrics {
  externalCall(call: ExternalCall): void;
  throttled(service: string): void;
  healed(kind: string, facet: string): void;
  driftRepaired(kind: string, facet: string): void;
  /** A workflow action that will not get through (issue 14); facet is audience, identity or host. */
  workflowMismatch(kind: string, facet: string): void;
}

/** The request budget's buckets as the Azure layer reports them (opaque strings here: runtime knows no Azure). */
export interface BudgetBucketReading {
  scope: string;
  kind: string;
  tokens: number;
  /** Requests that ever waited for a token in this bucket (monotonic). */
  waited: number;
}

/** What an external-state inventory reports, read at scrape time. */
export interface InventoryReadings {
  /** Objects held, by kind. */
  sizes(): Record<string, number>;
  /** When each source was last listed (epoch ms). */
  freshness(): { source: string; takenAt: number }[];
  /** Reads served from the inventory (hits) and passed through to the external system (misses); monotonic. */
  reads(): { hits: number; misses: number };
}

const MAX_LABEL_VALUES = 64;

/** Keeps a label's distinct values bounded: past the limit, new values become "other". */
class BoundedLabel {
  private readonly seen = new Set<string>();
  private readonly limit: number;

  constructor(limit = MAX_LABEL_VALUES) {
    this.limit = limit;
  }

  value(v: string): string {
    const clean = v.replace(/[^A-Za-z0-9_.:/-]/g, "_").slice(0, 64) || "unknown";
    if (this.seen.has(clean)) return clean;
    if (this.seen.size >= this.limit) return "other";
    this.seen.add(clean);
    return clean;
  }
}

function statusCodeLabel(code: number): string {
  return Number.isInteger(code) && code >= 100 && code <= 599 ? String(code) : code === 0 ? "0" : "other";
}

export class RuntimeMetrics implements OperatorMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<"kind" | "result">;
  readonly reconcileDuration: Histogram<"kind">;
  readonly queueDepth: Gauge<"kind">;
  readonly queueWait: Histogram<"kind">;
  readonly retries: Counter<"kind">;
  readonly externalCalls: Counter<"service" | "operation" | "status_code">;
  readonly externalCallDuration: Histogram<"service" | "operation">;
  readonly throttles: Counter<"service">;
  readonly heals: Counter<"kind" | "facet">;
  readonly driftRepairs: Counter<"kind" | "facet">;
  readonly workflowMismatches: Counter<"kind" | "facet">;
  readonly informerRestarts: Counter<"resource" | "reason">;
  readonly leader: Gauge;
  readonly tenancyMode: Gauge<"mode">;
  readonly budgetTokens: Gauge<"scope" | "kind">;
  readonly budgetWaits: Counter<"scope" | "kind">;
  readonly inventoryRefreshDuration: Histogram<"source" | "result">;
  readonly inventoryAge: Gauge<"source">;
  readonly inventoryObjects: Gauge<"kind">;
  readonly inventoryReads: Counter<"result">;
  readonly inventoryChanges: Counter<"kind">;
  readonly inventoryEnqueues: Counter<"kind">;
  #budget: (() => BudgetBucketReading[]) | undefined;
  #inventory: InventoryReadings | undefined;
  readonly #budgetWaitsSeen = new Map<string, number>();
  readonly #inventoryReadsSeen = { hits: 0, misses: 0 };
  private readonly scopes = new BoundedLabel(64);
  private readonly sources = new BoundedLabel(64);
  /** Budget bucket kinds, inventory object and change kinds: code-defined, apart from the controller kinds. */
  private readonly partKinds = new BoundedLabel(32);
  private readonly services = new BoundedLabel(16);
  private readonly operations = new BoundedLabel(128);
  private readonly kinds = new BoundedLabel(16);
  private readonly facets = new BoundedLabel(32);

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: "laio_" });
    this.reconciles = new Counter({
      name: "laio_reconcile_total",
      help: "Reconciles by kind and result.",
      labelNames: ["kind", "result"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "laio_reconcile_duration_seconds",
      help: "Time spent in reconcile.",
      labelNames: ["kind"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.queueDepth = new Gauge({
      name: "laio_workqueue_depth",
      help: "Keys ready and waiting for a worker.",
      labelNames: ["kind"],
      registers,
    });
    this.queueWait = new Histogram({
      name: "laio_workqueue_wait_seconds",
      help: "Time a key waited in the queue before a worker took it.",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.retries = new Counter({
      name: "laio_workqueue_retries_total",
      help: "Keys requeued after an error.",
      labelNames: ["kind"],
      registers,
    });
    this.externalCalls = new Counter({
      name: "laio_external_calls_total",
      help: "Calls to external services by service, operation and HTTP status code.",
      labelNames: ["service", "operation", "status_code"],
      registers,
    });
    this.externalCallDuration = new Histogram({
      name: "laio_external_call_duration_seconds",
      help: "Duration of calls to external services.",
      labelNames: ["service", "operation"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.throttles = new Counter({
      name: "laio_throttle_events_total",
      help: "Throttling responses (429, Retry-After) by service.",
      labelNames: ["service"],
      registers,
    });
    this.heals = new Counter({
      name: "laio_heals_total",
      help: "Grants re-created after the identity they belonged to was recreated.",
      labelNames: ["kind", "facet"],
      registers,
    });
    this.driftRepairs = new Counter({
      name: "laio_drift_repairs_total",
      help: "External state changed outside the operator and put back.",
      labelNames: ["kind", "facet"],
      registers,
    });
    this.workflowMismatches = new Counter({
      name: "laio_workflow_mismatches_total",
      help: "Workflow actions found (when the finding changed) whose audience, identity or host will not match the binding.",
      labelNames: ["kind", "facet"],
      registers,
    });
    this.informerRestarts = new Counter({
      name: "laio_informer_restarts_total",
      help: "Informer relists and reconnects after errors, 410 Gone or the watchdog.",
      labelNames: ["resource", "reason"],
      registers,
    });
    this.leader = new Gauge({
      name: "laio_leader",
      help: "1 while this instance holds the leader Lease.",
      registers,
    });
    // Read at scrape time from the budget and the inventory (registered later by the composition root, if at all).
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.budgetTokens = new Gauge({
      name: "laio_azure_budget_tokens",
      help: "Tokens left in the client-side request budget, by scope (subscription, or graph) and kind (read, write, delete, graph_read, graph_write).",
      labelNames: ["scope", "kind"],
      registers,
      collect() {
        for (const b of self.#budget?.() ?? [])
          this.set({ scope: self.scopes.value(b.scope), kind: self.partKinds.value(b.kind) }, b.tokens);
      },
    });
    this.budgetWaits = new Counter({
      name: "laio_azure_budget_waits_total",
      help: "Requests that waited for a budget token, by scope and kind.",
      labelNames: ["scope", "kind"],
      registers,
      collect() {
        for (const b of self.#budget?.() ?? []) {
          const id = `${b.scope}|${b.kind}`;
          const delta = b.waited - (self.#budgetWaitsSeen.get(id) ?? 0);
          self.#budgetWaitsSeen.set(id, b.waited);
          if (delta > 0)
            this.inc({ scope: self.scopes.value(b.scope), kind: self.partKinds.value(b.kind) }, delta);
        }
      },
    });
    this.inventoryRefreshDuration = new Histogram({
      name: "laio_inventory_refresh_duration_seconds",
      help: "Time one inventory source took to refresh (subscription lists, an API's app-role assignments, the APIM HEADs).",
      labelNames: ["source", "result"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.inventoryAge = new Gauge({
      name: "laio_inventory_age_seconds",
      help: "Seconds since each inventory source was last listed (freshness).",
      labelNames: ["source"],
      registers,
      collect() {
        const now = Date.now();
        for (const f of self.#inventory?.freshness() ?? [])
          this.set({ source: self.sources.value(f.source) }, Math.max(0, (now - f.takenAt) / 1000));
      },
    });
    this.inventoryObjects = new Gauge({
      name: "laio_inventory_objects",
      help: "Objects the inventory holds, by kind.",
      labelNames: ["kind"],
      registers,
      collect() {
        for (const [k, n] of Object.entries(self.#inventory?.sizes() ?? {}))
          this.set({ kind: self.partKinds.value(k) }, n);
      },
    });
    this.inventoryReads = new Counter({
      name: "laio_inventory_reads_total",
      help: "Reconciler reads answered from the inventory (hit) or passed through to Azure (miss).",
      labelNames: ["result"],
      registers,
      collect() {
        const r = self.#inventory?.reads();
        if (!r) return;
        const seen = self.#inventoryReadsSeen;
        if (r.hits > seen.hits) this.inc({ result: "hit" }, r.hits - seen.hits);
        if (r.misses > seen.misses) this.inc({ result: "miss" }, r.misses - seen.misses);
        seen.hits = r.hits;
        seen.misses = r.misses;
      },
    });
    this.inventoryChanges = new Counter({
      name: "laio_inventory_changes_total",
      help: "Changes an inventory refresh saw in Azure, by kind.",
      labelNames: ["kind"],
      registers,
    });
    this.inventoryEnqueues = new Counter({
      name: "laio_inventory_enqueues_total",
      help: "Objects enqueued because the inventory saw something they depend on change, by object kind.",
      labelNames: ["kind"],
      registers,
    });
    this.tenancyMode = new Gauge({
      name: "laio_tenancy_mode",
      help: "1 for the tenancy mode in force (enforce or permissive), 0 for the other.",
      labelNames: ["mode"],
      registers,
    });
  }

  /** Permissive mode must be visible to whoever scrapes the operator, not only in a start-up log line. */
  setTenancyMode(mode: "enforce" | "permissive"): void {
    this.tenancyMode.set({ mode: "enforce" }, mode === "enforce" ? 1 : 0);
    this.tenancyMode.set({ mode: "permissive" }, mode === "permissive" ? 1 : 0);
  }

  /** Reads the request budget's buckets at every scrape. */
  observeBudget(read: () => BudgetBucketReading[]): void {
    this.#budget = read;
  }

  /** Reads the inventory's sizes, freshness and hit counts at every scrape. */
  observeInventory(readings: InventoryReadings): void {
    this.#inventory = readings;
  }

  inventoryRefreshed(source: string, durationMs: number, ok: boolean): void {
    this.inventoryRefreshDuration.observe(
      { source: this.sources.value(source), result: ok ? "success" : "error" },
      durationMs / 1000,
    );
  }

  inventoryChanged(kind: string, n = 1): void {
    this.inventoryChanges.inc({ kind: this.partKinds.value(kind) }, n);
  }

  inventoryEnqueued(kind: string, n: number): void {
    if (n > 0) this.inventoryEnqueues.inc({ kind: this.kinds.value(kind) }, n);
  }

  externalCall(call: ExternalCall): void {
    const service = this.services.value(call.service);
    const operation = this.operations.value(call.operation);
    this.externalCalls.inc({ service, operation, status_code: statusCodeLabel(call.statusCode) });
    if (call.durationMs !== undefined) {
      this.externalCallDuration.observe({ service, operation }, call.durationMs / 1000);
    }
  }

  throttled(service: string): void {
    this.throttles.inc({ service: this.services.value(service) });
  }

  healed(kind: string, facet: string): void {
    this.heals.inc({ kind: this.kinds.value(kind), facet: this.facets.value(facet) });
  }

  driftRepaired(kind: string, facet: string): void {
    this.driftRepairs.inc({ kind: this.kinds.value(kind), facet: this.facets.value(facet) });
  }

  workflowMismatch(kind: string, facet: string): void {
    this.workflowMismatches.inc({ kind: this.kinds.value(kind), facet: this.facets.value(facet) });
  }

  reconciled(kind: string, result: ReconcileOutcome, durationMs: number): void {
    const k = this.kinds.value(kind);
    this.reconciles.inc({ kind: k, result });
    if (result !== "skipped") this.reconcileDuration.observe({ kind: k }, durationMs / 1000);
  }

  queueObserver(kind: string): QueueObserver {
    const k = this.kinds.value(kind);
    return {
      depth: (d) => this.queueDepth.set({ kind: k }, d),
      waited: (ms) => this.queueWait.observe({ kind: k }, ms / 1000),
      retried: () => this.retries.inc({ kind: k }),
    };
  }

  informerRestarted(resource: string, reason: string): void {
    this.informerRestarts.inc({ resource: this.kinds.value(resource), reason });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
