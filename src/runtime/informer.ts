/**
 * A list+watch cache for one resource in one scope (a namespace, or all namespaces), built on client-node's `Watch`
 * (the HTTP stream and its auth) with our own loop around it. See docs/adr/ for why we do not use `ListWatch`.
 *
 * The loop: list (paginated) → replace the cache, emitting add/update/delete for the difference → watch from the
 * list's resourceVersion with bookmarks → on a clean end (server timeout, client-node's 30 s cut) watch again at
 * once from the last resourceVersion → on 410 Gone relist at once → on any other error retry with backoff.
 * A watchdog forces a relist when nothing (no event, no bookmark, no list) has arrived for `silenceBoundMs`.
 */
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { realClock, type Clock, type TimerHandle } from "./clock.ts";
import { KubeClient, KubeApiError, type KubeList } from "./client.ts";
import type { Logger } from "./logger.ts";
import { silentLogger } from "./logger.ts";
import { keyOf, keyToString, type CacheReader, type ObjectKey } from "./reconciler.ts";
import { collectionPath, resourceId, type ResourceType } from "./resource.ts";
import { shareStrings, StringPool } from "./string-pool.ts";

export type InformerEventType = "add" | "update" | "delete";

/** Handlers map events to keys; they must not block or throw. `old` is set for updates. */
export type InformerHandler<T extends KubeObject> = (
  type: InformerEventType,
  obj: Readonly<T>,
  old?: Readonly<T>,
) => void;

/**
 * The two API-server calls an informer makes. By default the real client and watch over `kubeConfig`; unit tests
 * script them to drive relists, 410s and silence on the fake clock.
 */
export interface ListWatch {
  list<T>(
    resource: ResourceType,
    namespace: string | undefined,
    query: Record<string, string | number | undefined>,
  ): Promise<KubeList<T>>;
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (phase: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController>;
}

export interface InformerOptions {
  kubeConfig: KubeConfig;
  /** Replaces the API-server calls made through kubeConfig (tests). */
  listWatch?: ListWatch;
  resource: ResourceType;
  /** Empty or undefined: all namespaces. */
  namespace?: string;
  labelSelector?: string;
  logger?: Logger;
  clock?: Clock;
  /** Relist when nothing has arrived for this long. Default 10 min. */
  silenceBoundMs?: number;
  /** Backoff after errors: first delay and cap. Defaults 500 ms and 30 s. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Server-side watch timeout; kept below client-node's 30 s inactivity cut so watches end cleanly. Default 25. */
  watchTimeoutSeconds?: number;
  /** Page size for lists. Default 500. */
  pageSize?: number;
  /** Called with each (re)connect outcome, for metrics. */
  onRestart?: (reason: "error" | "gone" | "watchdog") => void;
}

interface WatchOutcome {
  kind: "closed" | "gone" | "error";
  error?: unknown;
  events: number;
  durationMs: number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  errors: number;
  gone: number;
  watchdogRelists: number;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** kubectl apply's copy of the whole object as last applied: read by kubectl, never by the operator. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Cached objects drop `metadata.managedFields` and kubectl's last-applied-configuration annotation: nothing reads
 * either from the cache, and together they are most of an object as served (one managedFields entry per field
 * manager, and the whole spec again as a JSON string), so 10,000 cached objects fit in the memory target
 * (docs/scaling.md). Predicates comparing annotations see both sides without it, so dropping it wakes nothing.
 *
 * The metadata is built anew, field by field, rather than copied and then `delete`d from: a `delete` turns a V8
 * object into a hash table ("dictionary mode"), 745 instead of 369 bytes per cached metadata (docs/benchmarks.md).
 */
export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata as (T["metadata"] & { managedFields?: unknown }) | undefined;
  if (!meta) return obj;
  const annotations = meta.annotations;
  const lastApplied = annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations;
  if (meta.managedFields === undefined && !lastApplied) return obj;
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(meta)) {
    if (k === "managedFields") continue;
    if (k === "annotations" && lastApplied) {
      const others: Record<string, string> = {};
      for (const a of Object.keys(annotations))
        if (a !== LAST_APPLIED_ANNOTATION) others[a] = annotations[a]!;
      if (Object.keys(others).length > 0) rest.annotations = others;
      continue;
    }
    rest[k] = (meta as unknown as Record<string, unknown>)[k];
  }
  return { ...obj, metadata: rest as unknown as T["metadata"] };
}

export class Informer<T extends KubeObject = KubeObject> implements CacheReader<T> {
  readonly resource: ResourceType;
  readonly namespace: string | undefined;
  readonly stats: InformerStats = { lists: 0, watches: 0, errors: 0, gone: 0, watchdogRelists: 0 };
  private readonly opts: InformerOptions;
  private readonly api: ListWatch;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly handlers: InformerHandler<T>[] = [];
  private cache = new Map<string, Readonly<T>>();
  /** Repeated strings of cached objects share one copy (string-pool.ts). */
  private readonly strings = new StringPool();
  private resourceVersion = "";
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private running = false;
  private loopDone: Promise<void> | undefined;
  private stopController = new AbortController();
  private currentWatch: AbortController | undefined;
  private lastActivity = 0;
  private watchdogTimer: TimerHandle | undefined;
  private forceRelist = false;

  constructor(options: InformerOptions) {
    this.opts = options;
    this.resource = options.resource;
    this.namespace = options.namespace || undefined;
    this.api = options.listWatch ?? kubeListWatch(options.kubeConfig);
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? silentLogger()).child({
      informer: resourceId(options.resource),
      namespace: this.namespace ?? "*",
    });
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(key: ObjectKey | string): Readonly<T> | undefined {
    return this.cache.get(typeof key === "string" ? key : keyToString(key));
  }

  list(namespace?: string): Readonly<T>[] {
    const all = [...this.cache.values()];
    return namespace ? all.filter((o) => o.metadata.namespace === namespace) : all;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  isRunning(): boolean {
    return this.running;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }

  /** Starts (or resumes: a stopped informer keeps its cache and resourceVersion and watches on from there). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopController = new AbortController();
    this.lastActivity = this.clock.now();
    this.armWatchdog();
    this.loopDone = this.loop().catch((e: unknown) => this.log.error({ err: e }, "informer loop crashed"));
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.watchdogTimer?.cancel();
    this.stopController.abort(new Error("informer stopped"));
    this.currentWatch?.abort();
    await this.loopDone;
  }

  /** Drops the watch and relists now (what the watchdog does; also handy in tests). */
  relist(): void {
    this.forceRelist = true;
    this.currentWatch?.abort();
  }

  private armWatchdog(): void {
    const bound = this.opts.silenceBoundMs ?? 600_000;
    const check = () => {
      if (!this.running) return;
      const silent = this.clock.now() - this.lastActivity;
      if (silent >= bound) {
        this.log.warn({ silentMs: silent }, "watch silent past bound; relisting");
        this.stats.watchdogRelists++;
        this.opts.onRestart?.("watchdog");
        this.lastActivity = this.clock.now();
        this.relist();
      }
      this.watchdogTimer = this.clock.setTimeout(check, Math.max(1000, Math.min(bound / 4, 30_000)));
    };
    this.watchdogTimer = this.clock.setTimeout(check, Math.max(1000, Math.min(bound / 4, 30_000)));
  }

  private async loop(): Promise<void> {
    const base = this.opts.backoffBaseMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    let failures = 0;
    while (this.running) {
      try {
        if (!this.resourceVersion || this.forceRelist) {
          this.forceRelist = false;
          await this.listAndReplace();
          failures = 0;
        }
        const outcome = await this.watchOnce();
        if (!this.running) break;
        if (this.forceRelist) continue;
        if (outcome.kind === "gone") {
          this.stats.gone++;
          this.opts.onRestart?.("gone");
          this.log.info("watch resourceVersion too old (410); relisting");
          this.resourceVersion = "";
          continue;
        }
        if (outcome.kind === "error") throw outcome.error;
        // A clean end (server timeout or client-node's inactivity cut) is the normal life of a watch:
        // reconnect at once so no change waits on a backoff. Guard only against a server that ends watches
        // instantly, which would otherwise spin.
        if (outcome.events === 0 && outcome.durationMs < 1000) {
          failures++;
          await this.clock.sleep(Math.min(base * 2 ** (failures - 1), max), this.stopController.signal);
        } else {
          failures = 0;
        }
      } catch (err) {
        if (!this.running) break;
        if (err instanceof KubeApiError && err.statusCode === 410) {
          this.resourceVersion = "";
          continue;
        }
        failures++;
        this.stats.errors++;
        this.opts.onRestart?.("error");
        const delay = Math.min(base * 2 ** (failures - 1), max) * (0.8 + Math.random() * 0.4);
        this.log.warn({ err, delayMs: Math.round(delay), failures }, "list/watch failed; retrying");
        try {
          await this.clock.sleep(delay, this.stopController.signal);
        } catch {
          break;
        }
      }
    }
  }

  private async listAndReplace(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string;
    do {
      const page = await this.api.list<T>(this.resource, this.namespace, {
        labelSelector: this.opts.labelSelector,
        limit: this.opts.pageSize ?? 500,
        continue: cont,
      });
      items.push(...(page.items ?? []));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont);
    this.stats.lists++;
    const kind = this.resource.kind;
    const apiVersion = this.resource.group
      ? `${this.resource.group}/${this.resource.version}`
      : this.resource.version;
    const next = new Map<string, Readonly<T>>();
    for (const item of items) {
      // List items carry no kind/apiVersion; fill them so cached objects look like watched ones.
      const obj = deepFreeze(
        shareStrings(withoutManagedFields({ ...item, kind, apiVersion } as T), this.strings),
      );
      next.set(keyToString(keyOf(obj)), obj);
    }
    const previous = this.cache;
    this.cache = next;
    this.resourceVersion = rv;
    this.lastActivity = this.clock.now();
    for (const [key, obj] of next) {
      const old = previous.get(key);
      if (!old) this.emit("add", obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit("update", obj, old);
    }
    for (const [key, old] of previous) {
      if (!next.has(key)) this.emit("delete", old);
    }
    if (!this.synced) {
      this.synced = true;
      this.log.debug({ objects: next.size }, "cache synced");
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private watchOnce(): Promise<WatchOutcome> {
    const started = this.clock.now();
    let events = 0;
    let gone = false;
    let streamError: unknown;
    const timeout = this.opts.watchTimeoutSeconds ?? 25;
    return new Promise<WatchOutcome>((resolve) => {
      let finished = false;
      const finish = (err: unknown) => {
        if (finished) return;
        finished = true;
        const durationMs = this.clock.now() - started;
        const status = (err as { statusCode?: number; code?: number } | null)?.statusCode;
        if (gone || status === 410) resolve({ kind: "gone", events, durationMs });
        else if (streamError) resolve({ kind: "error", error: streamError, events, durationMs });
        else if (
          err &&
          (err as { name?: string }).name !== "TimeoutError" &&
          !this.forceRelist &&
          this.running
        )
          resolve({ kind: "error", error: err, events, durationMs });
        else resolve({ kind: "closed", events, durationMs });
      };
      this.stats.watches++;
      this.api
        .watch(
          collectionPath(this.resource, this.namespace),
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: timeout,
            labelSelector: this.opts.labelSelector,
          },
          (phase: string, obj: unknown) => {
            this.lastActivity = this.clock.now();
            events++;
            const o = obj as T & { code?: number; message?: string };
            if (phase === "ERROR") {
              if (o.code === 410) gone = true;
              else
                streamError = new KubeApiError(
                  o.code ?? 500,
                  `watch error: ${o.message ?? "unknown"}`,
                  undefined,
                  o,
                );
              this.currentWatch?.abort();
              return;
            }
            this.apply(phase, o);
          },
          finish,
        )
        .then((controller) => {
          if (finished) return;
          this.currentWatch = controller;
          if (!this.running || this.forceRelist) controller.abort();
        })
        .catch(finish);
    });
  }

  private apply(phase: string, raw: T): void {
    if (phase === "BOOKMARK") {
      if (raw.metadata?.resourceVersion) this.resourceVersion = raw.metadata.resourceVersion;
      return;
    }
    const obj = deepFreeze(shareStrings(withoutManagedFields(raw), this.strings));
    const key = keyToString(keyOf(obj));
    const old = this.cache.get(key);
    if (phase === "ADDED" || phase === "MODIFIED") {
      this.cache.set(key, obj);
      if (!old) this.emit("add", obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit("update", obj, old);
    } else if (phase === "DELETED") {
      this.cache.delete(key);
      this.emit("delete", old ?? obj);
    }
    if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
  }

  private emit(type: InformerEventType, obj: Readonly<T>, old?: Readonly<T>): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.log.error({ err, type }, "informer handler threw");
      }
    }
  }
}

function kubeListWatch(kubeConfig: KubeConfig): ListWatch {
  const client = new KubeClient(kubeConfig);
  const watch = new Watch(kubeConfig);
  return {
    list: (r, ns, q) => client.list(r, ns, q),
    watch: (path, q, onEvent, onDone) => watch.watch(path, q, onEvent, onDone),
  };
}

/** Several informers of one resource (one per watched namespace) seen as one cache and event source. */
export class InformerSet<T extends KubeObject = KubeObject> implements CacheReader<T> {
  readonly informers: Informer<T>[];

  constructor(informers: Informer<T>[]) {
    this.informers = informers;
  }

  on(handler: InformerHandler<T>): void {
    for (const i of this.informers) i.on(handler);
  }

  get(key: ObjectKey | string): Readonly<T> | undefined {
    for (const i of this.informers) {
      const o = i.get(key);
      if (o) return o;
    }
    return undefined;
  }

  list(namespace?: string): Readonly<T>[] {
    return this.informers.flatMap((i) => i.list(namespace));
  }

  hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced());
  }

  start(): void {
    for (const i of this.informers) i.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  relist(): void {
    for (const i of this.informers) i.relist();
  }
}
