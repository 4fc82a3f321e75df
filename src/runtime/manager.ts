/**
 * Composition: kube config, shared informers, one controller per registered kind, leader election, the
 * /metrics and /healthz+/readyz servers, and graceful shutdown (stop taking work → let in-flight reconciles finish
 * within the deadline → release the Lease → stop informers and servers).
 */
import { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { realClock, type Clock } from "./clock.ts";
import { KubeClient } from "./client.ts";
import type { RuntimeConfig } from "./config.ts";
import { Controller, type MapFunc, type Predicate, type WatchSource } from "./controller.ts";
import { EventRecorder } from "./events.ts";
import { HttpEndpoint, type Check } from "./health.ts";
import { Informer, InformerSet, type InformerOptions } from "./informer.ts";
import { LeaderElector } from "./leader-election.ts";
import { createLogger, type Logger } from "./logger.ts";
import { RuntimeMetrics } from "./metrics.ts";
import type { Reconciler } from "./reconciler.ts";
import { resourceId, type ResourceType } from "./resource.ts";
import { StatusWriter } from "./status.ts";

/** What reconcilers get from the manager. */
export interface ManagerServices {
  client: KubeClient;
  status: StatusWriter;
  events: EventRecorder;
  metrics: RuntimeMetrics;
  logger: Logger;
  clock: Clock;
  config: RuntimeConfig;
}

export interface WatchRegistration {
  resource: ResourceType;
  labelSelector?: string;
  /** Keys of primary objects to reconcile when an object of `resource` changes (old and new are both mapped). */
  map: MapFunc;
}

export interface ControllerRegistration<T extends KubeObject = KubeObject> {
  /** Kind name for logs and metrics, e.g. LogicAppIdentityBinding. */
  name: string;
  resource: ResourceType;
  labelSelector?: string;
  reconciler: Reconciler<T> | ((services: ManagerServices) => Reconciler<T>);
  watches?: WatchRegistration[];
  predicate?: Predicate<T>;
  /** Overrides --concurrency for this kind. */
  concurrency?: number;
  /** Overrides --resync-interval for this kind. */
  resyncIntervalMs?: number;
}

export interface ManagerOptions {
  config: RuntimeConfig;
  kubeConfig?: KubeConfig;
  logger?: Logger;
  clock?: Clock;
  /** Informer tuning (watchdog bound, watch timeout, backoff). */
  informer?: Pick<
    InformerOptions,
    "silenceBoundMs" | "backoffBaseMs" | "backoffMaxMs" | "watchTimeoutSeconds" | "pageSize"
  >;
  /** Work-queue backoff for every controller. */
  backoff?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Called when leadership is lost (not released). Default: stop the manager and set process.exitCode = 1. */
  onLostLeadership?: () => void;
  /** reportingController of Events. */
  eventController?: string;
}

/**
 * Something that runs beside the controllers while this instance leads (e.g. an external change source that
 * enqueues keys through `Controller.enqueue`): started with the workers, stopped before the controllers.
 */
export interface Runnable {
  start(): void;
  stop(): void | Promise<void>;
}

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export class Manager {
  readonly services: ManagerServices;
  readonly kubeConfig: KubeConfig;
  readonly controllers: Controller[] = [];
  private readonly opts: ManagerOptions;
  private readonly log: Logger;
  private readonly informers = new Map<string, InformerSet>();
  private readonly runnables: Runnable[] = [];
  private elector: LeaderElector | undefined;
  private servers: HttpEndpoint[] = [];
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private stopPromise: Promise<void> | undefined;
  private leading = false;
  private workersStarted = false;
  /** Ports the servers listen on (useful with :0 in tests). */
  metricsPort: number | undefined;
  healthPort: number | undefined;

  constructor(options: ManagerOptions) {
    this.opts = options;
    const config = options.config;
    this.kubeConfig = options.kubeConfig ?? loadKubeConfig(config.kubeconfig);
    const logger = options.logger ?? createLogger({ level: config.logLevel });
    this.log = logger.child({ component: "manager", identity: config.identity });
    const client = new KubeClient(this.kubeConfig);
    const clock = options.clock ?? realClock;
    this.services = {
      client,
      status: new StatusWriter(client),
      events: new EventRecorder({
        client,
        controller: options.eventController ?? "identity.logicapp.dev/operator",
        instance: config.identity,
        clock,
        logger,
      }),
      metrics: new RuntimeMetrics({ defaultMetrics: true }),
      logger,
      clock,
      config,
    };
    this.services.metrics.setTenancyMode(config.tenancy);
    if (config.tenancy === "permissive")
      this.log.warn(
        "tenancy is permissive: every namespace may make the operator do anything its Azure identity can " +
          "(AzureAccessPolicy objects are not enforced); use --tenancy=enforce in a shared cluster",
      );
  }

  /** Shared informer set for a resource (one informer per watched namespace, or one for all). */
  informerFor<T extends KubeObject = KubeObject>(
    resource: ResourceType,
    labelSelector?: string,
  ): InformerSet<T> {
    const id = `${resourceId(resource)}|${labelSelector ?? ""}`;
    let set = this.informers.get(id);
    if (!set) {
      const namespaces =
        resource.namespaced && this.opts.config.namespaces.length > 0 ? this.opts.config.namespaces : [""];
      set = new InformerSet(
        namespaces.map(
          (ns) =>
            new Informer({
              kubeConfig: this.kubeConfig,
              resource,
              namespace: ns,
              labelSelector,
              logger: this.services.logger,
              clock: this.services.clock,
              onRestart: (reason) => this.services.metrics.informerRestarted(resource.kind, reason),
              ...this.opts.informer,
            }),
        ),
      );
      this.informers.set(id, set);
      if (this.state === "running") set.start();
    }
    return set as unknown as InformerSet<T>;
  }

  addController<T extends KubeObject = KubeObject>(reg: ControllerRegistration<T>): Controller<T> {
    if (this.state !== "new") throw new Error("add controllers before start()");
    const reconciler = typeof reg.reconciler === "function" ? reg.reconciler(this.services) : reg.reconciler;
    const watches: WatchSource[] = (reg.watches ?? []).map((w) => ({
      resource: w.resource,
      source: this.informerFor(w.resource, w.labelSelector),
      map: w.map,
    }));
    const controller = new Controller<T>({
      name: reg.name,
      resource: reg.resource,
      primary: this.informerFor<T>(reg.resource, reg.labelSelector),
      reconciler,
      watches,
      predicate: reg.predicate,
      concurrency: reg.concurrency ?? this.opts.config.concurrency,
      resyncIntervalMs: reg.resyncIntervalMs ?? this.opts.config.resyncIntervalMs,
      clock: this.services.clock,
      logger: this.services.logger,
      metrics: this.services.metrics,
      ...this.opts.backoff,
    });
    this.controllers.push(controller as unknown as Controller);
    return controller;
  }

  /** Runs `r` while this instance leads, from the moment the workers start. */
  addRunnable(r: Runnable): void {
    if (this.state !== "new") throw new Error("add runnables before start()");
    this.runnables.push(r);
  }

  cachesSynced(): boolean {
    return [...this.informers.values()].every((s) => s.hasSynced());
  }

  isLeader(): boolean {
    return this.opts.config.leaderElect ? this.leading : true;
  }

  workersRunning(): boolean {
    return this.workersStarted && this.controllers.every((c) => c.workersRunning());
  }

  /** Ready: caches synced, and if this instance leads, its workers run. A standby with warm caches is ready. */
  ready(): boolean {
    if (this.state !== "running") return false;
    if (!this.cachesSynced()) return false;
    return !this.isLeader() || this.workersRunning();
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`manager already ${this.state}`);
    this.state = "running";
    const config = this.opts.config;
    await this.startServers();
    for (const set of this.informers.values()) set.start();
    if (config.leaderElect) {
      this.elector = new LeaderElector({
        client: this.services.client,
        name: config.leaseName,
        namespace: config.leaseNamespace,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        clock: this.services.clock,
        logger: this.services.logger,
        onStartedLeading: () => {
          this.leading = true;
          this.services.metrics.leader.set(1);
          void this.startWorkers();
        },
        onStoppedLeading: (reason) => {
          this.leading = false;
          this.services.metrics.leader.set(0);
          if (reason === "lost") {
            this.log.error("leadership lost; stopping so a clean instance can take over");
            if (this.opts.onLostLeadership) this.opts.onLostLeadership();
            else {
              process.exitCode = 1;
              void this.stop();
            }
          }
        },
        onNewLeader: (id) => this.log.info({ leader: id }, "leader observed"),
      });
      this.elector.start();
    } else {
      void this.startWorkers();
    }
    this.log.info(
      { namespaces: config.namespaces.length ? config.namespaces : "all", leaderElect: config.leaderElect },
      "manager started",
    );
  }

  /** Workers start only once every cache has synced, so reconcilers never act on a partial view. */
  private async startWorkers(): Promise<void> {
    await Promise.all([...this.informers.values()].flatMap((s) => s.informers.map((i) => i.waitForSync())));
    if (this.state !== "running" || (this.opts.config.leaderElect && !this.leading)) return;
    for (const c of this.controllers) c.start();
    for (const r of this.runnables) r.start();
    this.workersStarted = true;
    this.log.info({ controllers: this.controllers.map((c) => c.name) }, "workers started");
  }

  private async startServers(): Promise<void> {
    const { metricsAddr, healthAddr } = this.opts.config;
    const health = new Map<string, Check>([
      [
        "informers",
        () =>
          this.state !== "running" ||
          [...this.informers.values()].every((s) => s.informers.every((i) => i.isRunning())) ||
          "an informer is not running",
      ],
    ]);
    const ready = new Map<string, Check>([
      ["caches-synced", () => this.cachesSynced() || "caches not synced"],
      ["workers", () => !this.isLeader() || this.workersRunning() || "leader but workers not running"],
      ["running", () => this.state === "running" || `manager ${this.state}`],
    ]);
    const metrics = () => this.services.metrics.text();
    if (metricsAddr && metricsAddr === healthAddr) {
      const s = new HttpEndpoint({ metrics, health, ready });
      this.metricsPort = this.healthPort = await s.listen(metricsAddr);
      this.servers.push(s);
      return;
    }
    if (metricsAddr) {
      const s = new HttpEndpoint({ metrics });
      this.metricsPort = await s.listen(metricsAddr);
      this.servers.push(s);
    }
    if (healthAddr) {
      const s = new HttpEndpoint({ health, ready });
      this.healthPort = await s.listen(healthAddr);
      this.servers.push(s);
    }
  }

  /** Graceful stop; safe to call more than once. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    if (this.state === "new") {
      this.state = "stopped";
      return;
    }
    this.state = "stopping";
    const deadline = this.opts.config.shutdownTimeoutMs;
    this.log.info({ deadlineMs: deadline }, "shutting down: no new work, waiting for in-flight reconciles");
    await Promise.all(this.runnables.map((r) => r.stop()));
    const results = await Promise.all(this.controllers.map((c) => c.stop(deadline)));
    if (results.some((ok) => !ok)) this.log.warn("some reconciles were aborted at the shutdown deadline");
    await this.elector?.stop();
    await Promise.race([this.services.events.flush(), new Promise((r) => setTimeout(r, 2000))]);
    await Promise.all([...this.informers.values()].map((s) => s.stop()));
    await Promise.all(this.servers.map((s) => s.close()));
    this.services.client.close();
    this.state = "stopped";
    this.log.info("stopped");
  }

  /** SIGTERM/SIGINT → stop(). Returns a function that removes the handlers. */
  installSignalHandlers(onStopped: () => void = () => process.exit()): () => void {
    const handler = (signal: NodeJS.Signals) => {
      this.log.info({ signal }, "signal received");
      void this.stop().then(onStopped);
    };
    process.once("SIGTERM", handler);
    process.once("SIGINT", handler);
    return () => {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    };
  }
}
