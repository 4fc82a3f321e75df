import { describe, expect, it } from "vitest";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { FakeClock, flushMicrotasks } from "./clock.ts";
import {
  Controller,
  specOrMetadataChanged,
  specOrMetadataChangedExceptOwnFinalizer,
  type EventSource,
  type Predicate,
} from "./controller.ts";
import type { InformerHandler } from "./informer.ts";
import {
  RetryableError,
  TerminalError,
  keyToString,
  type ObjectKey,
  type ReconcileContext,
  type ReconcileResult,
} from "./reconciler.ts";
import type { ResourceType } from "./resource.ts";

const R: ResourceType = { group: "x.dev", version: "v1", plural: "things", kind: "Thing", namespaced: true };
const W: ResourceType = { group: "x.dev", version: "v1", plural: "others", kind: "Other", namespaced: true };

class FakeSource implements EventSource {
  private readonly objects = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler<KubeObject>[] = [];
  on(h: InformerHandler<KubeObject>): void {
    this.handlers.push(h);
  }
  get(key: ObjectKey | string) {
    return this.objects.get(typeof key === "string" ? key : keyToString(key));
  }
  list() {
    return [...this.objects.values()];
  }
  hasSynced() {
    return true;
  }
  set(name: string, generation = 1, spec: unknown = {}): void {
    const key = `ns/${name}`;
    const old = this.objects.get(key);
    const obj: KubeObject = {
      apiVersion: "x.dev/v1",
      kind: "Thing",
      metadata: { name, namespace: "ns", generation, resourceVersion: String(Math.random()) },
      spec,
    };
    this.objects.set(key, obj);
    for (const h of this.handlers) h(old ? "update" : "add", obj, old);
  }
  remove(name: string): void {
    const obj = this.objects.get(`ns/${name}`);
    if (!obj) return;
    this.objects.delete(`ns/${name}`);
    for (const h of this.handlers) h("delete", obj);
  }
}

type Behaviour = (key: ObjectKey, ctx: ReconcileContext, n: number) => Promise<ReconcileResult>;

function setup(behaviour: Behaviour, opts: { concurrency?: number; resyncIntervalMs?: number } = {}) {
  const clock = new FakeClock(0);
  const source = new FakeSource();
  const others = new FakeSource();
  const calls: string[] = [];
  let active = 0;
  let maxActivePerKey = 0;
  const activeKeys = new Map<string, number>();
  const controller = new Controller({
    name: "Thing",
    resource: R,
    primary: source,
    clock,
    concurrency: opts.concurrency ?? 1,
    resyncIntervalMs: opts.resyncIntervalMs,
    random: () => 0.5,
    watches: [
      {
        resource: W,
        source: others,
        map: (o) => [{ namespace: "ns", name: String((o.spec as { target?: string }).target) }],
      },
    ],
    reconciler: {
      async reconcile(key, ctx) {
        const k = keyToString(key);
        calls.push(k);
        active++;
        activeKeys.set(k, (activeKeys.get(k) ?? 0) + 1);
        maxActivePerKey = Math.max(maxActivePerKey, activeKeys.get(k)!);
        try {
          return await behaviour(key, ctx, calls.filter((c) => c === k).length);
        } finally {
          active--;
          activeKeys.set(k, activeKeys.get(k)! - 1);
        }
      },
    },
  });
  controller.start();
  return { clock, source, others, calls, controller, maxActive: () => maxActivePerKey, active: () => active };
}

describe("Controller", () => {
  it("create, update and delete each drive a reconcile; delete sees no object", async () => {
    const seen: Array<boolean> = [];
    const t = setup(async (_k, ctx) => {
      seen.push(ctx.object() !== undefined);
      return {};
    });
    t.source.set("a");
    await t.clock.advance(0);
    t.source.set("a", 2);
    await t.clock.advance(0);
    t.source.remove("a");
    await t.clock.advance(0);
    expect(t.calls).toEqual(["ns/a", "ns/a", "ns/a"]);
    expect(seen).toEqual([true, true, false]);
  });

  it("never reconciles one key twice at once, even with many workers", async () => {
    let release: () => void = () => {};
    const t = setup(
      (_k, _c, n) =>
        n === 1 ? new Promise<ReconcileResult>((r) => (release = () => r({}))) : Promise.resolve({}),
      { concurrency: 4 },
    );
    t.source.set("a");
    await flushMicrotasks();
    t.source.set("a", 2);
    t.source.set("a", 3);
    await flushMicrotasks();
    expect(t.calls).toEqual(["ns/a"]);
    release();
    await t.clock.advance(0);
    expect(t.calls).toEqual(["ns/a", "ns/a"]);
    expect(t.maxActive()).toBe(1);
  });

  it("errors back off exponentially and success resets the backoff", async () => {
    const t = setup(async (_k, _c, n) => {
      if (n <= 3) throw new Error("boom");
      return {};
    });
    t.source.set("a");
    await t.clock.advance(0);
    expect(t.calls.length).toBe(1);
    await t.clock.advance(5);
    expect(t.calls.length).toBe(2);
    await t.clock.advance(9);
    expect(t.calls.length).toBe(2);
    await t.clock.advance(1);
    expect(t.calls.length).toBe(3);
    await t.clock.advance(20);
    expect(t.calls.length).toBe(4);
    expect(t.controller.queue.numRequeues("ns/a")).toBe(0);
  });

  it("RetryableError with retryAfterMs replaces the backoff", async () => {
    const t = setup(async (_k, _c, n) => {
      if (n === 1) throw new RetryableError("throttled", { retryAfterMs: 30_000 });
      return {};
    });
    t.source.set("a");
    await t.clock.advance(29_999);
    expect(t.calls.length).toBe(1);
    await t.clock.advance(1);
    expect(t.calls.length).toBe(2);
  });

  it("requeueAfter polls again after the delay", async () => {
    const t = setup(async () => ({ requeueAfterMs: 60_000 }));
    t.source.set("a");
    await t.clock.advance(0);
    await t.clock.advance(60_000);
    await t.clock.advance(60_000);
    expect(t.calls.length).toBe(3);
  });

  it("terminal: not retried, not reconciled on non-generation changes, retried when generation changes", async () => {
    const t = setup(async (_k, _c, n) => {
      if (n === 1) throw new TerminalError("bad spec");
      return {};
    });
    t.source.set("a", 1);
    await t.clock.advance(3_600_000);
    expect(t.calls.length).toBe(1);
    expect(t.controller.isTerminal("ns/a")).toBe(true);
    t.source.set("a", 1); // e.g. a label or status change: same generation
    await t.clock.advance(0);
    expect(t.calls.length).toBe(1);
    t.source.set("a", 2);
    await t.clock.advance(0);
    expect(t.calls.length).toBe(2);
    expect(t.controller.isTerminal("ns/a")).toBe(false);
  });

  it("resync: looks again within the interval (with jitter) after success", async () => {
    const t = setup(async () => ({}), { resyncIntervalMs: 100_000 });
    t.source.set("a");
    await t.clock.advance(0);
    // random() = 0.5 puts the jitter at the centre: exactly the interval.
    await t.clock.advance(99_999);
    expect(t.calls.length).toBe(1);
    await t.clock.advance(1);
    expect(t.calls.length).toBe(2);
    t.source.remove("a");
    await t.clock.advance(0);
    // The resync already scheduled may fire once more for the gone key; after that nothing is scheduled.
    await t.clock.advance(1_000_000);
    const n = t.calls.length;
    await t.clock.advance(10_000_000);
    expect(t.calls.length).toBe(n);
    expect(t.controller.queue.delayed()).toBe(0);
  });

  it("watches: a related object's change enqueues the mapped primary key (old and new)", async () => {
    const t = setup(async () => ({}));
    t.others.set("o", 1, { target: "x" });
    await t.clock.advance(0);
    expect(t.calls).toEqual(["ns/x"]);
    t.others.set("o", 2, { target: "y" });
    await t.clock.advance(0);
    expect(t.calls.sort()).toEqual(["ns/x", "ns/x", "ns/y"]);
  });

  it("stop: in-flight reconciles finish, no new work is taken", async () => {
    let release: () => void = () => {};
    const t = setup((_k, _c, n) =>
      n === 1 ? new Promise<ReconcileResult>((r) => (release = () => r({}))) : Promise.resolve({}),
    );
    t.source.set("a");
    await flushMicrotasks();
    let stopped = false;
    void t.controller.stop(10_000).then(() => (stopped = true));
    t.source.set("b");
    await flushMicrotasks();
    expect(stopped).toBe(false);
    release();
    await t.clock.advance(0);
    expect(stopped).toBe(true);
    expect(t.calls).toEqual(["ns/a"]);
  });

  it("stop: past the deadline the reconcile's signal aborts", async () => {
    let aborted = false;
    const t = setup(
      (_k, ctx) =>
        new Promise<ReconcileResult>((r) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            r({});
          }),
        ),
    );
    t.source.set("a");
    await flushMicrotasks();
    let result: boolean | undefined;
    void t.controller.stop(5_000).then((ok) => (result = ok));
    await t.clock.advance(4_999);
    expect(aborted).toBe(false);
    await t.clock.advance(1);
    expect(aborted).toBe(true);
    expect(result).toBe(false);
  });
});

describe("specOrMetadataChangedExceptOwnFinalizer", () => {
  const OURS = "x.dev/cleanup";
  const thing = (meta: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
    apiVersion: "x.dev/v1",
    kind: "Thing",
    metadata: { name: "a", namespace: "ns", generation: 1, resourceVersion: String(Math.random()), ...meta },
    spec: {},
  });

  /** A primary source whose reconciler adds its finalizer as the pass engine does: passes per new object. */
  async function passesPerNewObject(predicate: Predicate): Promise<number> {
    const clock = new FakeClock(0);
    const handlers: InformerHandler<KubeObject>[] = [];
    let current: KubeObject | undefined;
    const emit = (next: KubeObject) => {
      const old = current;
      current = next;
      for (const h of handlers) h(old ? "update" : "add", next, old);
    };
    let passes = 0;
    const controller = new Controller({
      name: "Thing",
      resource: R,
      clock,
      predicate,
      primary: {
        on: (h) => handlers.push(h),
        get: () => current,
        list: () => (current ? [current] : []),
        hasSynced: () => true,
      },
      reconciler: {
        async reconcile() {
          passes++;
          const obj = current!;
          const finalizers = obj.metadata.finalizers ?? [];
          // The API server's watch event of our own patch, while the pass goes on with the patched object.
          if (!finalizers.includes(OURS)) emit(thing({ finalizers: [...finalizers, OURS] }));
          return {};
        },
      },
    });
    controller.start();
    emit(thing({ finalizers: ["someone.else/keep"] }));
    await clock.advance(0);
    await clock.advance(0);
    return passes;
  }

  it("one pass per new object instead of two", async () => {
    expect(await passesPerNewObject(specOrMetadataChanged)).toBe(2);
    expect(await passesPerNewObject(specOrMetadataChangedExceptOwnFinalizer(OURS))).toBe(1);
  });

  it("still wakes on any other change, and on our finalizer being removed", () => {
    const p = specOrMetadataChangedExceptOwnFinalizer(OURS);
    const old = thing({ finalizers: ["other"] });
    expect(p("update", thing({ finalizers: ["other", OURS] }), old)).toBe(false);
    expect(p("update", thing({ finalizers: ["other", OURS], generation: 2 }), old)).toBe(true);
    expect(p("update", thing({ finalizers: ["other", OURS], labels: { a: "b" } }), old)).toBe(true);
    expect(p("update", thing({ finalizers: ["other", OURS], annotations: { a: "b" } }), old)).toBe(true);
    expect(p("update", thing({ finalizers: [OURS], deletionTimestamp: "2026-12-04T10:00:00Z" }), old)).toBe(
      true,
    );
    // Someone else's finalizer added or changed along with ours.
    expect(p("update", thing({ finalizers: ["other", "more", OURS] }), old)).toBe(true);
    expect(p("update", thing({ finalizers: ["other"] }), thing({ finalizers: ["other", OURS] }))).toBe(true);
    expect(p("update", thing({ finalizers: ["other"] }), thing({ finalizers: ["other"] }))).toBe(false);
    expect(p("add", thing({ finalizers: [OURS] }))).toBe(true);
  });
});
