/**
 * Leader election and graceful shutdown on the real kube-apiserver, with short leases: two instances elect one
 * leader; a stopped leader releases the Lease and the standby takes over; a killed leader is replaced within the
 * lease bound; SIGTERM lets an in-flight reconcile finish, then clears holderIdentity.
 */
import type * as k8s from "@kubernetes/client-node";
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { KubeClient } from "../../src/runtime/client.ts";
import { LEASE, type LeaseObject } from "../../src/runtime/leader-election.ts";
import { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, kubeConfig, waitUntil } from "../support/kube.ts";
import { BINDING, TestReconciler, createBinding, readBinding, testConfig } from "./runtime-support.ts";

const here = dirname(fileURLToPath(import.meta.url));
const LEASE_MS = 3_000;
const leaseFlags = {
  leaderElect: true,
  leaseDurationMs: LEASE_MS,
  renewDeadlineMs: 2_000,
  retryPeriodMs: 250,
};

let kubeconfigPath: string;
let kc: k8s.KubeConfig;
let client: KubeClient;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(() => {
  kubeconfigPath = inject("kubeconfig");
  kc = kubeConfig(kubeconfigPath);
  client = new KubeClient(kc);
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function holder(ns: string, name: string): Promise<string | undefined> {
  try {
    const lease = (await client.get(LEASE, { namespace: ns, name })) as unknown as LeaseObject;
    return lease.spec?.holderIdentity ?? undefined;
  } catch {
    return undefined;
  }
}

function startManager(ns: string, identity: string): { manager: Manager; reconciler: () => TestReconciler } {
  let reconciler!: TestReconciler;
  const manager = new Manager({
    config: testConfig({ ...leaseFlags, namespaces: [ns], leaseNamespace: ns, leaseName: "laio", identity }),
    kubeConfig: kc,
    onLostLeadership: () => {},
  });
  manager.addController({
    name: "LogicAppIdentityBinding",
    resource: BINDING,
    reconciler: (s) => (reconciler = new TestReconciler(s)),
  });
  cleanup.push(() => manager.stop());
  return { manager, reconciler: () => reconciler };
}

function startProcess(
  ns: string,
  identity: string,
  delayMs = 0,
): { child: ChildProcess; output: () => string } {
  let out = "";
  const child = spawn(
    process.execPath,
    [
      join(here, "runtime-process.ts"),
      `--namespaces=${ns}`,
      `--lease-namespace=${ns}`,
      "--lease-name=laio",
      `--identity=${identity}`,
      "--leader-elect=true",
      `--lease-duration=${LEASE_MS}ms`,
      "--renew-deadline=2s",
      "--retry-period=250ms",
      "--metrics-addr=0",
      "--health-addr=0",
      "--log-level=warn",
      "--resync-interval=0",
      "--shutdown-timeout=20s",
    ],
    { env: { ...process.env, KUBECONFIG: kubeconfigPath, TEST_DELAY_MS: String(delayMs) }, stdio: "pipe" },
  );
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  cleanup.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return { child, output: () => out };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

describe("leader election", () => {
  it("two instances elect one leader; only it reconciles; the standby takes over when it stops", async () => {
    const ns = await freshNamespace(kc, "le");
    const a = startManager(ns, "instance-a");
    const b = startManager(ns, "instance-b");
    await a.manager.start();
    await b.manager.start();
    await waitUntil("one leader", () => a.manager.isLeader() !== b.manager.isLeader(), 10_000);
    const [leader, standby] = a.manager.isLeader() ? [a, b] : [b, a];
    expect(await holder(ns, "laio")).toBe(leader.manager.services.config.identity);
    await waitUntil(
      "both ready (standby with warm caches)",
      () => leader.manager.ready() && standby.manager.ready(),
    );

    await createBinding(client, ns, "x", "1");
    await waitUntil(
      "reconciled by the leader",
      async () => (await readBinding(client, ns, "x"))?.status?.grants === "1",
    );
    expect(leader.reconciler().count(`${ns}/x`)).toBeGreaterThanOrEqual(1);
    expect(standby.reconciler().count(`${ns}/x`)).toBe(0);
    // Still exactly one leader after several renewals.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(a.manager.isLeader() !== b.manager.isLeader()).toBe(true);

    const stoppedAt = Date.now();
    await leader.manager.stop();
    await waitUntil("standby leads", () => standby.manager.isLeader(), LEASE_MS + 2_000);
    // Released, so the standby does not wait for the lease to expire.
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_MS);
    expect(await holder(ns, "laio")).toBe(standby.manager.services.config.identity);

    await createBinding(client, ns, "y", "2");
    await waitUntil(
      "reconciled by the new leader",
      async () => (await readBinding(client, ns, "y"))?.status?.grants === "2",
    );
    expect(standby.reconciler().count(`${ns}/y`)).toBeGreaterThanOrEqual(1);
  });

  it("a killed leader (SIGKILL, no release) is replaced within the lease bound", async () => {
    const ns = await freshNamespace(kc, "lk");
    const p = startProcess(ns, "proc-leader");
    await waitUntil("process leads", async () => (await holder(ns, "laio")) === "proc-leader", 30_000);
    const s = startManager(ns, "standby");
    await s.manager.start();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(s.manager.isLeader()).toBe(false);

    p.child.kill("SIGKILL");
    await exited(p.child);
    const killedAt = Date.now();
    await waitUntil("standby leads", () => s.manager.isLeader(), LEASE_MS + 5_000);
    const took = Date.now() - killedAt;
    // lease duration (measured from the standby's last observation) + one retry period + slack
    expect(took).toBeLessThan(LEASE_MS + 1_500);
    await createBinding(client, ns, "z", "3");
    await waitUntil(
      "reconciled by the new leader",
      async () => (await readBinding(client, ns, "z"))?.status?.grants === "3",
    );
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM lets the in-flight reconcile finish, then clears holderIdentity", async () => {
    const ns = await freshNamespace(kc, "term");
    const p = startProcess(ns, "proc-term", 3_000);
    await waitUntil("process leads", async () => (await holder(ns, "laio")) === "proc-term", 30_000);
    await createBinding(client, ns, "w", "done");
    await waitUntil("reconcile in flight", () => p.output().includes(`RECONCILE_START ${ns}/w`), 20_000);
    expect((await readBinding(client, ns, "w"))?.status?.grants).toBeUndefined();

    p.child.kill("SIGTERM");
    const code = await exited(p.child);
    expect(code, p.output()).toBe(0);
    expect(p.output()).toContain("STOPPED");
    // The reconcile that was running when SIGTERM arrived completed its status write.
    expect((await readBinding(client, ns, "w"))?.status?.grants).toBe("done");
    expect(await holder(ns, "laio")).toBeUndefined();
  });
});
