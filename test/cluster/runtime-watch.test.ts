/**
 * The informer's failure paths on a real kube-apiserver: a killed API server (every watch dropped), a 410 Gone
 * after etcd compaction, and client-node 2.x's 30 s cut of a quiet watch. In each, no change may be lost, and a
 * change after a quiet period must not wait for a reconnect backoff.
 */
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startControlPlane, type ControlPlane } from "../../hack/control-plane/control-plane.ts";
import { KubeClient, isStatus } from "../../src/runtime/client.ts";
import { Informer } from "../../src/runtime/informer.ts";
import { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, installCrds, kubeConfig, waitUntil } from "../support/kube.ts";
import {
  BINDING,
  TestReconciler,
  VALUE,
  createBinding,
  readBinding,
  setValue,
  testConfig,
} from "./runtime-support.ts";

describe("informer on a separately started control plane (watch cache off, fast compaction)", () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let client: KubeClient;

  beforeAll(async () => {
    cp = await startControlPlane({ apiServerArgs: ["--watch-cache=false", "--etcd-compaction-interval=5s"] });
    await installCrds(cp.kubeconfig);
    kc = kubeConfig(cp.kubeconfig);
    client = new KubeClient(kc);
  });

  afterAll(async () => {
    client?.close();
    await cp?.stop();
  });

  it("a killed API server loses no change", async () => {
    const ns = await freshNamespace(kc, "kill");
    const manager = new Manager({ config: testConfig({ namespaces: [ns] }), kubeConfig: kc });
    let reconciler!: TestReconciler;
    manager.addController({
      name: "LogicAppIdentityBinding",
      resource: BINDING,
      reconciler: (s) => (reconciler = new TestReconciler(s)),
    });
    try {
      await manager.start();
      await createBinding(client, ns, "a", "before");
      await createBinding(client, ns, "b", "before");
      await waitUntil(
        "both reconciled",
        async () => (await readBinding(client, ns, "b"))?.status?.grants === "before",
      );

      await cp.restartApiServer();
      // Changes made right after the restart, while the informer is still reconnecting.
      const changed = Date.now();
      await setValue(client, ns, "a", "after");
      await client.delete(BINDING, { namespace: ns, name: "b" });
      await createBinding(client, ns, "c", "new");

      await waitUntil(
        "update, delete and create all reconciled",
        async () =>
          (await readBinding(client, ns, "a"))?.status?.grants === "after" &&
          (await readBinding(client, ns, "b")) === undefined &&
          (await readBinding(client, ns, "c"))?.status?.grants === "new",
        60_000,
      );
      expect(reconciler.cleanedUp).toContain(`${ns}/b`);
      const informer = manager.informerFor(BINDING).informers[0]!;
      expect(informer.stats.errors).toBeGreaterThanOrEqual(1);
      // Reconnect backoff is capped at 30 s; with a ~2 s restart it should be far below.
      expect(Date.now() - changed).toBeLessThan(30_000);
    } finally {
      await manager.stop();
    }
  });

  it("a 410 Gone relist loses no change (update, delete and create made while disconnected)", async () => {
    const ns = await freshNamespace(kc, "gone");
    await createBinding(client, ns, "a", "1");
    await createBinding(client, ns, "b", "1");
    const informer = new Informer({ kubeConfig: kc, resource: BINDING, namespace: ns });
    const seen: string[] = [];
    informer.on((type, obj) =>
      seen.push(`${type} ${obj.metadata.name} ${obj.metadata.annotations?.[VALUE] ?? ""}`),
    );
    informer.start();
    try {
      await informer.waitForSync();
      expect(seen.sort()).toEqual(["add a 1", "add b 1"]);
      await informer.stop();
      const staleRv = (await client.list(BINDING, ns)).metadata.resourceVersion!;

      await setValue(client, ns, "a", "2");
      await client.delete(BINDING, { namespace: ns, name: "b" });
      await createBinding(client, ns, "c", "1");
      seen.length = 0;

      // Wait until etcd has compacted past the informer's resourceVersion, so resuming from it must get 410.
      await waitUntil(
        "compaction past the stale resourceVersion",
        async () => {
          try {
            await client.list(BINDING, ns, { resourceVersion: staleRv, resourceVersionMatch: "Exact" });
            return false;
          } catch (e) {
            return isStatus(e, 410);
          }
        },
        60_000,
      );

      informer.start();
      await waitUntil("relist events", () => seen.length >= 3, 30_000);
      expect(seen.sort()).toEqual(["add c 1", "delete b 1", "update a 2"]);
      expect(informer.stats.gone).toBeGreaterThanOrEqual(1);
      expect(informer.get(`${ns}/b`)).toBeUndefined();
      expect(informer.get(`${ns}/a`)!.metadata.annotations![VALUE]).toBe("2");
    } finally {
      await informer.stop();
    }
  });
});

describe("informer on the run's control plane", () => {
  it("a quiet watch cut by client-node's 30 s timeout does not delay the next change", async () => {
    const kc = kubeConfig(inject("kubeconfig"));
    const client = new KubeClient(kc);
    const ns = await freshNamespace(kc, "quiet");
    // A server-side timeout above 30 s lets client-node's own 30 s inactivity cut end the watch.
    const manager = new Manager({
      config: testConfig({ namespaces: [ns] }),
      kubeConfig: kc,
      informer: { watchTimeoutSeconds: 55 },
    });
    manager.addController({
      name: "LogicAppIdentityBinding",
      resource: BINDING,
      reconciler: (s) => new TestReconciler(s, { finalizer: false }),
    });
    try {
      await manager.start();
      await createBinding(client, ns, "q", "1");
      await waitUntil("reconciled", async () => (await readBinding(client, ns, "q"))?.status?.grants === "1");
      const informer = manager.informerFor(BINDING).informers[0]!;
      const watchesBefore = informer.stats.watches;
      await new Promise((r) => setTimeout(r, 40_000));
      expect(informer.stats.watches).toBeGreaterThan(watchesBefore);
      const t0 = Date.now();
      await setValue(client, ns, "q", "2");
      await waitUntil(
        "reconciled after quiet",
        async () => (await readBinding(client, ns, "q"))?.status?.grants === "2",
      );
      expect(Date.now() - t0).toBeLessThan(3_000);
    } finally {
      await manager.stop();
      client.close();
    }
  });

  it("the watchdog relists a silent watch, and the relist announces no spurious changes", async () => {
    const kc = kubeConfig(inject("kubeconfig"));
    const client = new KubeClient(kc);
    const ns = await freshNamespace(kc, "dog");
    await createBinding(client, ns, "a", "1");
    const informer = new Informer({
      kubeConfig: kc,
      resource: BINDING,
      namespace: ns,
      silenceBoundMs: 1_500,
    });
    const seen: string[] = [];
    informer.on((type, obj) => seen.push(`${type} ${obj.metadata.name}`));
    informer.start();
    try {
      await informer.waitForSync();
      await waitUntil("two watchdog relists", () => informer.stats.watchdogRelists >= 2, 20_000);
      expect(informer.stats.lists).toBeGreaterThanOrEqual(3);
      expect(seen).toEqual(["add a"]);
      await setValue(client, ns, "a", "2");
      await waitUntil("update still delivered", () => seen.includes("update a"), 10_000);
    } finally {
      await informer.stop();
      client.close();
    }
  });
});
