/**
 * The informer's loop on the fake clock, with the API server's two calls scripted (list pages, watch streams): what
 * the cache holds and which events handlers see after a relist, a 410, an error backoff and a silent watch. The real
 * list+watch against a kube-apiserver stays in test/cluster/runtime-watch.test.ts.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import type { KubeList } from "./client.ts";
import { FakeClock, flushMicrotasks } from "./clock.ts";
import { Informer, type InformerEventType, type ListWatch } from "./informer.ts";
import type { ResourceType } from "./resource.ts";

const R: ResourceType = {
  group: "laio.example.com",
  version: "v1",
  plural: "things",
  kind: "Thing",
  namespaced: true,
};

const obj = (name: string, rv: string): KubeObject => ({
  apiVersion: "laio.example.com/v1",
  kind: "Thing",
  metadata: { name, namespace: "ns", resourceVersion: rv },
  spec: {},
});

interface OpenWatch {
  query: Record<string, unknown>;
  send(phase: string, o: unknown): void;
  end(err?: unknown): void;
  aborted: boolean;
}

/** A scripted API server: the next list answer, and every watch the informer opened (to drive by hand). */
class ScriptedApi implements ListWatch {
  lists: { items: KubeObject[]; rv: string }[] = [];
  listCalls = 0;
  listError: unknown;
  watches: OpenWatch[] = [];

  async list<T>(): Promise<KubeList<T>> {
    this.listCalls++;
    if (this.listError) {
      const e = this.listError;
      this.listError = undefined;
      throw e;
    }
    const next = this.lists.length > 1 ? this.lists.shift()! : this.lists[0]!;
    return { items: next.items as T[], metadata: { resourceVersion: next.rv } } as KubeList<T>;
  }

  async watch(
    _path: string,
    query: Record<string, unknown>,
    onEvent: (phase: string, o: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    const w: OpenWatch = {
      query,
      send: (phase, o) => onEvent(phase, o),
      end: (err) => onDone(err ?? null),
      aborted: false,
    };
    controller.signal.addEventListener("abort", () => {
      w.aborted = true;
      onDone(null);
    });
    this.watches.push(w);
    return controller;
  }

  last(): OpenWatch {
    return this.watches[this.watches.length - 1]!;
  }
}

function setup(options: { silenceBoundMs?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const api = new ScriptedApi();
  const informer = new Informer({
    kubeConfig: new KubeConfig(),
    listWatch: api,
    resource: R,
    namespace: "ns",
    clock,
    backoffBaseMs: 500,
    backoffMaxMs: 4_000,
    ...options,
  });
  const seen: [InformerEventType, string][] = [];
  informer.on((type, o) => seen.push([type, `${o.metadata.name}@${o.metadata.resourceVersion}`]));
  return { clock, api, informer, seen };
}

describe("Informer on the fake clock", () => {
  it("lists, then watches from the list's resourceVersion; watch events update the cache", async () => {
    const { api, informer, seen } = setup();
    api.lists = [{ items: [obj("a", "1")], rv: "10" }];
    informer.start();
    await flushMicrotasks();
    expect(informer.hasSynced()).toBe(true);
    expect(api.last().query.resourceVersion).toBe("10");
    api.last().send("ADDED", obj("b", "11"));
    api.last().send("MODIFIED", obj("a", "12"));
    api.last().send("DELETED", obj("b", "13"));
    expect(informer.list().map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`)).toEqual(["a@12"]);
    expect(seen).toEqual([
      ["add", "a@1"],
      ["add", "b@11"],
      ["update", "a@12"],
      ["delete", "b@11"],
    ]);
    await informer.stop();
  });

  it("410 Gone relists at once and emits only the difference", async () => {
    const { api, informer, seen } = setup();
    api.lists = [
      { items: [obj("a", "1"), obj("b", "2")], rv: "10" },
      { items: [obj("a", "1"), obj("c", "30")], rv: "31" },
    ];
    informer.start();
    await flushMicrotasks();
    api.last().send("ERROR", { code: 410, message: "too old" });
    await flushMicrotasks();
    expect(api.listCalls).toBe(2);
    expect(api.last().query.resourceVersion).toBe("31");
    expect(seen.slice(2)).toEqual([
      ["add", "c@30"],
      ["delete", "b@2"],
    ]);
    expect(informer.stats.gone).toBe(1);
    await informer.stop();
  });

  it("a failed list backs off on the clock before trying again", async () => {
    const { api, clock, informer } = setup();
    api.lists = [{ items: [obj("a", "1")], rv: "10" }];
    api.listError = new Error("connection refused");
    informer.start();
    await flushMicrotasks();
    expect(api.listCalls).toBe(1);
    expect(informer.hasSynced()).toBe(false);
    // First delay is 500 ms ± 20 %: nothing before 400 ms, the retry by 600 ms.
    await clock.advance(399);
    expect(api.listCalls).toBe(1);
    await clock.advance(201);
    await flushMicrotasks();
    expect(api.listCalls).toBe(2);
    expect(informer.hasSynced()).toBe(true);
    expect(informer.stats.errors).toBe(1);
    await informer.stop();
  });

  it("a watch silent past the bound is dropped and the cache relisted (the watchdog)", async () => {
    const { api, clock, informer, seen } = setup({ silenceBoundMs: 60_000 });
    api.lists = [
      { items: [obj("a", "1")], rv: "10" },
      { items: [obj("a", "5")], rv: "20" },
    ];
    informer.start();
    await flushMicrotasks();
    const first = api.last();
    await clock.advance(59_000);
    expect(first.aborted).toBe(false);
    await clock.advance(15_000);
    await flushMicrotasks();
    expect(first.aborted).toBe(true);
    expect(informer.stats.watchdogRelists).toBe(1);
    expect(api.listCalls).toBe(2);
    expect(seen).toContainEqual(["update", "a@5"]);
    await informer.stop();
  });

  it("bookmarks keep the watch alive and move the resourceVersion without events", async () => {
    const { api, clock, informer, seen } = setup({ silenceBoundMs: 60_000 });
    api.lists = [{ items: [], rv: "10" }];
    informer.start();
    await flushMicrotasks();
    for (let i = 0; i < 4; i++) {
      await clock.advance(30_000);
      api.last().send("BOOKMARK", { metadata: { resourceVersion: String(100 + i) } });
    }
    expect(informer.stats.watchdogRelists).toBe(0);
    api.last().end();
    await flushMicrotasks();
    expect(api.last().query.resourceVersion).toBe("103");
    expect(seen).toEqual([]);
    await informer.stop();
  });
});
