/**
 * The runtime on the real kube-apiserver with a trivial reconciler: create/update/delete drive reconciles, the
 * status written is what kubectl shows, finalizers are added and removed, Events are de-duplicated into a series,
 * and /metrics, /healthz, /readyz answer.
 */
import type * as k8s from "@kubernetes/client-node";
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { FINALIZER } from "../../src/api/v1alpha1/index.ts";
import { KubeClient, MERGE_PATCH } from "../../src/runtime/client.ts";
import { EVENT } from "../../src/runtime/events.ts";
import { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, kubeConfig, kubectl, waitUntil } from "../support/kube.ts";
import {
  BINDING,
  TestReconciler,
  createBinding,
  readBinding,
  setValue,
  testConfig,
} from "./runtime-support.ts";

let kubeconfigPath: string;
let kc: k8s.KubeConfig;
let client: KubeClient;
let ns: string;
let manager: Manager | undefined;
let reconciler: TestReconciler;

beforeAll(() => {
  kubeconfigPath = inject("kubeconfig");
  kc = kubeConfig(kubeconfigPath);
  client = new KubeClient(kc);
});

beforeEach(async () => {
  ns = await freshNamespace(kc, "rt");
  manager = new Manager({ config: testConfig({ namespaces: [ns] }), kubeConfig: kc });
  manager.addController({
    name: "LogicAppIdentityBinding",
    resource: BINDING,
    reconciler: (s) => (reconciler = new TestReconciler(s)),
  });
  await manager.start();
  await waitUntil("manager ready", () => manager!.ready());
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

async function kubectlJsonPath(name: string, path: string): Promise<string> {
  const r = await kubectl(kubeconfigPath, [
    "get",
    "identitybindings",
    name,
    "-n",
    ns,
    "-o",
    `jsonpath=${path}`,
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
}

describe("runtime against the API server", () => {
  it("create, update and delete drive reconciles; status is visible through kubectl", async () => {
    await createBinding(client, ns, "a", "one");
    await waitUntil(
      "status grants=one",
      async () => (await kubectlJsonPath("a", "{.status.grants}")) === "one",
    );

    const table = await kubectl(kubeconfigPath, ["get", "identitybindings", "-n", ns]);
    expect(table.stdout).toMatch(/^NAME\s+READY\s+REASON/m);
    expect(table.stdout).toMatch(/^a\s+True\s+Observed/m);

    const obj = await readBinding(client, ns, "a");
    expect(obj!.metadata.finalizers).toContain(FINALIZER);
    expect(obj!.status!.observedGeneration).toBe(obj!.metadata.generation);
    const ready = obj!.status!.conditions!.find((c) => c.type === "Ready")!;
    expect(ready).toMatchObject({ status: "True", reason: "Observed", message: "value one" });

    await setValue(client, ns, "a", "two");
    await waitUntil(
      "status grants=two",
      async () => (await kubectlJsonPath("a", "{.status.grants}")) === "two",
    );
    // Same status → Ready's lastTransitionTime did not move.
    const after = await readBinding(client, ns, "a");
    expect(after!.status!.conditions!.find((c) => c.type === "Ready")!.lastTransitionTime).toBe(
      ready.lastTransitionTime,
    );

    await client.delete(BINDING, { namespace: ns, name: "a" });
    await waitUntil("object gone after finalizer removal", async () => !(await readBinding(client, ns, "a")));
    expect(reconciler.cleanedUp).toContain(`${ns}/a`);
    const r = await kubectl(kubeconfigPath, ["get", "identitybindings", "a", "-n", ns]);
    expect(r.stderr).toMatch(/NotFound/);
  });

  it("writes status only when it changed (no write loop)", async () => {
    await createBinding(client, ns, "b", "x");
    await waitUntil(
      "status grants=x",
      async () => (await readBinding(client, ns, "b"))?.status?.grants === "x",
    );
    await new Promise((r) => setTimeout(r, 1500));
    const rv = (await readBinding(client, ns, "b"))!.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await readBinding(client, ns, "b"))!.metadata.resourceVersion).toBe(rv);
  });

  it("a status write that conflicts is retried from a fresh read", async () => {
    await createBinding(client, ns, "c", "v1");
    await waitUntil("reconciled", async () => (await readBinding(client, ns, "c"))?.status?.grants === "v1");
    const stale = (await readBinding(client, ns, "c"))!;
    await setValue(client, ns, "c", "v2");
    await waitUntil(
      "reconciled v2",
      async () => (await readBinding(client, ns, "c"))?.status?.grants === "v2",
    );
    // Writing from the stale copy hits 409 and is recomputed from the fresh object.
    const res = await manager!.services.status.update(BINDING, stale, (o) => ({
      ...o.status,
      grants: `fresh ${o.metadata.annotations?.["test.laio.dev/value"]}`,
    }));
    expect(res.attempts).toBe(2);
    expect(res.written).toBe(true);
    // What the API server stored for that write (the running test reconciler may write "v2" again afterwards,
    // so the object is not re-read here).
    expect((res.object.status as { grants?: string }).grants).toBe("fresh v2");
  });

  it("repeated Events become one Event with a series", async () => {
    await createBinding(client, ns, "d", "same");
    await waitUntil("reconciled", () => reconciler.count(`${ns}/d`) >= 1);
    for (let i = 0; i < 3; i++) {
      const before = reconciler.count(`${ns}/d`);
      await client.patch(
        BINDING,
        { namespace: ns, name: "d" },
        { metadata: { labels: { touch: String(i) } } },
        MERGE_PATCH,
      );
      await waitUntil("reconciled again", () => reconciler.count(`${ns}/d`) > before);
    }
    await manager!.services.events.flush();
    const list = await client.list<{
      reason: string;
      note: string;
      regarding: { name: string };
      series?: { count: number };
    }>(EVENT, ns);
    const observed = list.items.filter((e) => e.regarding.name === "d" && e.note === "value same");
    expect(observed).toHaveLength(1);
    expect(observed[0]!.series!.count).toBeGreaterThanOrEqual(4);
    const described = await kubectl(kubeconfigPath, ["describe", "identitybinding", "d", "-n", ns]);
    expect(described.stdout).toMatch(/Observed/);
  });

  it("serves /metrics, /healthz and /readyz", async () => {
    await createBinding(client, ns, "e", "m");
    await waitUntil("reconciled", () => reconciler.count(`${ns}/e`) >= 1);
    const base = `http://127.0.0.1:${manager!.healthPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toMatch(/\[\+\] caches-synced ok/);
    const metrics = await (await fetch(`http://127.0.0.1:${manager!.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/laio_reconcile_total\{kind="LogicAppIdentityBinding",result="success"\} \d+/);
    expect(metrics).toMatch(/laio_reconcile_duration_seconds_bucket/);
    expect(metrics).toMatch(/laio_workqueue_depth\{kind="LogicAppIdentityBinding"\}/);
    await manager!.stop();
    expect((await fetch(`${base}/readyz`).catch(() => ({ status: 0 }))).status).not.toBe(200);
  });
});
