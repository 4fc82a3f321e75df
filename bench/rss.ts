/**
 * `npm run bench -- --rss 10000`: the whole operator process's resident memory with N bindings cached, against a
 * real kube-apiserver (the envtest-style control plane of hack/control-plane) and the emulator. The operator runs
 * as its own process (`src/cli/main.ts run`, default flags: inventory on, tenancy enforce), so what is measured is
 * what a pod would use: the Node runtime, the SDK clients, every informer cache and the work queues.
 *
 * The N bindings are created the way `kubectl apply` creates them (a last-applied-configuration annotation, and
 * the managedFields the API server adds), in a namespace no AzureAccessPolicy selects: every one is reconciled once
 * (a Stalled status write) and none costs Azure writes, which would take N × 3 ÷ 10 per second to replay and
 * measure the write budget rather than memory. Reported: RSS idle before the objects exist, RSS once every object
 * was reconciled and the process had 30 s to settle, and the peak (VmHWM).
 */
import * as k8s from "@kubernetes/client-node";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startControlPlane } from "../hack/control-plane/control-plane.ts";
import { startEmulator } from "../emulator/index.ts";
import { installCrds, kubeConfig } from "../test/support/kube.ts";
import { IMAGE_ENTRY, IMAGE_ENV } from "../hack/image.ts";
import type { ScenarioIds } from "../emulator/index.ts";
import { scenarioPolicy } from "../test/support/access-policy.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

/** CPU seconds the process has used (utime + stime from /proc, in clock ticks of 1/100 s on Linux). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  // `name` may end inside the label set (e.g. `laio_reconcile_total{kind="X"`): every series it starts is summed.
  for (const line of text.split("\n"))
    if (line.startsWith(name) && /^[{ ,]/.test(line[name.length] ?? ""))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

/**
 * Where the RSS is: file-backed pages (the node binary and shared libraries, mapped) against anonymous memory
 * (V8's heap as committed, malloc), and V8's own view (used and committed heap, external buffers).
 */
async function breakdown(pid: number, metricsPort: number): Promise<string> {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0) / 1024;
  const mb = async (name: string) => ((await metric(metricsPort, name)) / 1e6).toFixed(0);
  return [
    `anonymous ${kb("Anonymous").toFixed(0)} MB`,
    `file-backed ${(kb("Rss") - kb("Anonymous")).toFixed(0)} MB`,
    `V8 heap used ${await mb("laio_nodejs_heap_size_used_bytes")} of ${await mb("laio_nodejs_heap_size_total_bytes")} MB committed`,
    `external ${await mb("laio_nodejs_external_memory_bytes")} MB`,
  ].join(", ");
}

/** CPU seconds per thread (by name: main thread, V8 GC helpers, libuv pool), to tell JS work from GC. */
function cpuByThread(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+$/, "");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(comm, (out.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

function threadDelta(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([, v]) => v >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
    .join(", ");
}

/**
 * With LAIO_BENCH_HEAP_SNAPSHOTS=1 and `--node-flags=--heapsnapshot-signal=SIGUSR2`, a heap snapshot of the operator
 * is written (to the working directory, as Heap.*.heapsnapshot) idle and settled, to compare what N objects retain.
 */
async function snapshot(pid: number, label: string): Promise<void> {
  if (process.env.LAIO_BENCH_HEAP_SNAPSHOTS !== "1") return;
  process.kill(pid, "SIGUSR2");
  console.log(`heap snapshot requested (${label})`);
  // Writing a snapshot stops the process for seconds; the readings after it must not include that.
  await sleep(15_000);
}

const READY_NAMESPACE = "rss-ready";

async function readyObjects(
  custom: k8s.CustomObjectsApi,
  core: k8s.CoreV1Api,
  ids: ScenarioIds,
): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: READY_NAMESPACE } } });
  await custom.createClusterCustomObject({
    group: "identity.logicapp.dev",
    version: "v1alpha1",
    plural: "azureaccesspolicies",
    body: scenarioPolicy(READY_NAMESPACE, ids),
  });
  const objects = [
    {
      plural: "logicappidentitybindings",
      body: {
        apiVersion: "identity.logicapp.dev/v1alpha1",
        kind: "LogicAppIdentityBinding",
        metadata: { name: "ready", namespace: READY_NAMESPACE },
        spec: {
          logicAppId: ids.logicAppId,
          identity: { type: "SystemAssigned" },
          roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
          appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
        },
      },
    },
    {
      plural: "apimjwtpolicies",
      body: {
        apiVersion: "identity.logicapp.dev/v1alpha1",
        kind: "ApimJwtPolicy",
        metadata: { name: "ready", namespace: READY_NAMESPACE },
        spec: {
          apimServiceId: ids.apim.serviceId,
          target: { apiId: ids.apim.apiId },
          bindingRef: { name: "ready" },
        },
      },
    },
  ];
  for (const { plural, body } of objects)
    await custom.createNamespacedCustomObject({
      group: "identity.logicapp.dev",
      version: "v1alpha1",
      namespace: READY_NAMESPACE,
      plural,
      body,
    });
  const deadline = Date.now() + 120_000;
  for (const { plural, body } of objects) {
    let conditions: Array<{ type: string; status: string; reason?: string; message?: string }> = [];
    while (Date.now() < deadline) {
      const o = (await custom.getNamespacedCustomObject({
        group: "identity.logicapp.dev",
        version: "v1alpha1",
        namespace: READY_NAMESPACE,
        plural,
        name: body.metadata.name,
      })) as { status?: { conditions?: typeof conditions } };
      conditions = o.status?.conditions ?? [];
      if (conditions.some((c) => c.type === "Ready" && c.status === "True")) break;
      await sleep(1_000);
    }
    const ready = conditions.find((c) => c.type === "Ready");
    if (ready?.status !== "True")
      throw new Error(`${body.kind} ${READY_NAMESPACE}/ready not Ready: ${JSON.stringify(conditions)}`);
  }
  console.log(`1 binding and 1 JWT policy Ready in ${READY_NAMESPACE} (ARM, Graph and APIM paths run)`);
}

/**
 * `nodeFlags`: V8/Node flags for the operator process, as the chart's `operator.nodeOptions` would pass them.
 * `build`: "bundle" runs what the image runs — `npm run build:bundle`'s `dist/bundle/main.js` with the Dockerfile's
 * environment (`hack/image.ts`); "tsc" runs the previous image's `dist/src/cli/main.js` of `npm run build` without
 * that environment, to compare. Never the .ts sources: Node's type stripping adds its own memory (about 30 MB)
 * that no pod pays.
 */
export async function rssBench(
  n: number,
  nodeFlags: string[] = [],
  build: "bundle" | "tsc" = "bundle",
): Promise<void> {
  const t0 = Date.now();
  if (build === "bundle") execFileSync(process.execPath, ["hack/build-bundle.ts"], { stdio: "inherit" });
  else
    execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
      stdio: "inherit",
    });
  const entry = build === "bundle" ? IMAGE_ENTRY : "dist/src/cli/main.js";
  const cp = await startControlPlane();
  const emu = await startEmulator();
  const operator: { pid?: number; kill?: () => void } = {};
  // Interrupted: the control plane and the operator must not outlive the bench.
  const onSignal = () => {
    operator.kill?.();
    void cp.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await installCrds(cp.kubeconfig);
    const kc = kubeConfig(cp.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const name of ["rss", "rss-records"]) await core.createNamespace({ body: { metadata: { name } } });
    const ids = await emu.control.seedScenario();
    const caFile = join(cp.dir, "emulator-ca.pem");
    writeFileSync(caFile, emu.caPem);

    const metricsPort = await freePort();
    const child = spawn(
      process.execPath,
      [
        ...nodeFlags,
        entry,
        "run",
        "--kubeconfig",
        cp.kubeconfig,
        "--leader-elect=false",
        "--records-namespace",
        "rss-records",
        "--metrics-addr",
        `127.0.0.1:${metricsPort}`,
        "--health-addr",
        "0",
        "--log-level",
        "warn",
        "--arm-endpoint",
        emu.url,
        "--graph-endpoint",
        emu.url,
        "--azure-ca-file",
        caFile,
        "--azure-credential",
        "static",
      ],
      {
        stdio: ["ignore", "ignore", "inherit"],
        env: build === "bundle" ? { ...process.env, ...IMAGE_ENV } : process.env,
      },
    );
    operator.pid = child.pid;
    operator.kill = () => child.kill("SIGTERM");
    const pid = child.pid!;
    await sleep(10_000);
    const idle = memoryOf(pid);
    await snapshot(pid, "idle");
    const cpuAtStart = cpuSecondsOf(pid);
    console.log(
      `operator idle, 0 objects: RSS ${idle.rssMb.toFixed(0)} MB (${await breakdown(pid, metricsPort)})`,
    );

    // One binding and one JWT policy made Ready where an AzureAccessPolicy allows them, before the wave: the
    // operator has then run the Azure paths a working operator runs (ARM, Graph and APIM through the SDK clients,
    // records, claims), so the figures include that code loaded and compiled, not only the denial path the N
    // bindings take. Fails the bench if the build under test cannot converge them.
    await readyObjects(custom, core, ids);
    const reconciledBefore = await metric(metricsPort, 'laio_reconcile_total{kind="LogicAppIdentityBinding"');

    // kubectl apply's shape: the whole object again in an annotation, and the API server's managedFields.
    const created = Date.now();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const body = {
          apiVersion: "identity.logicapp.dev/v1alpha1",
          kind: "LogicAppIdentityBinding",
          metadata: { name: `wf-${i}`, namespace: "rss" } as Record<string, unknown>,
          spec: {
            logicAppId: `/subscriptions/${ids.subscriptionId}/resourceGroups/${ids.resourceGroup}/providers/Microsoft.Logic/workflows/wf-${i}`,
            identity: { type: "SystemAssigned" },
            roleAssignments: [
              {
                scope: `${ids.resourceGroupId}/providers/Microsoft.KeyVault/vaults/kv-${i}`,
                role: "Key Vault Secrets User",
              },
              {
                scope: `${ids.resourceGroupId}/providers/Microsoft.Storage/storageAccounts/st${i}`,
                role: "Reader",
              },
            ],
            appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
          },
        };
        body.metadata.annotations = {
          "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(body),
        };
        await custom.createNamespacedCustomObject({
          group: "identity.logicapp.dev",
          version: "v1alpha1",
          namespace: "rss",
          plural: "logicappidentitybindings",
          body,
        });
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    console.log(`${n} bindings created in ${((Date.now() - created) / 1000).toFixed(0)} s`);

    // Every object reconciled once (denied by tenancy: Stalled), then 30 s to settle.
    const deadline = Date.now() + 30 * 60_000;
    let done = 0;
    while (Date.now() < deadline) {
      done =
        (await metric(metricsPort, 'laio_reconcile_total{kind="LogicAppIdentityBinding"')) - reconciledBefore;
      if (done >= n) break;
      await sleep(5_000);
    }
    const reconciledAfter = (Date.now() - created) / 1000;
    // Each object's first pass adds the finalizer, and that update wakes a second pass: the wave is over when the
    // queue is empty and no reconcile happened for 10 s, not when N reconciles were counted.
    let last = -1;
    let quiet = false;
    while (Date.now() < deadline) {
      const now = await metric(metricsPort, 'laio_reconcile_total{kind="LogicAppIdentityBinding"');
      const depth = await metric(metricsPort, 'laio_workqueue_depth{kind="LogicAppIdentityBinding"');
      if (now === last && depth === 0) {
        quiet = true;
        break;
      }
      last = now;
      await sleep(10_000);
    }
    const quietAfter = (Date.now() - created) / 1000;
    const cpuFirstPass = cpuSecondsOf(pid) - cpuAtStart;
    const cpuBeforeSettle = cpuSecondsOf(pid);
    await sleep(30_000);
    const settled = memoryOf(pid);
    await snapshot(pid, "settled");
    const heapMb = (await metric(metricsPort, "laio_nodejs_heap_size_used_bytes")) / 1e6;
    const externalMb = (await metric(metricsPort, "laio_nodejs_external_memory_bytes")) / 1e6;
    const cpuSettlePerMinute = (cpuSecondsOf(pid) - cpuBeforeSettle) * 2;
    // The settle window still sees the wave's tail (re-reconciles woken by our own status writes, Event series
    // updates, the GC of the wave's garbage): idle is the minute after it.
    const cpuBeforeIdle = cpuSecondsOf(pid);
    const threadsBeforeIdle = cpuByThread(pid);
    await sleep(60_000);
    const cpuIdlePerMinute = cpuSecondsOf(pid) - cpuBeforeIdle;
    const idleThreads = threadDelta(threadsBeforeIdle, cpuByThread(pid));
    const afterIdle = memoryOf(pid);
    const afterIdleBreakdown = await breakdown(pid, metricsPort);
    console.log(
      `\n| objects cached | reconciles | RSS idle (0 objects) MB | RSS settled MB | RSS peak MB | target |\n| ---: | ---: | ---: | ---: | ---: | --- |\n| ${n} | ${done} | ${idle.rssMb.toFixed(0)} | ${settled.rssMb.toFixed(0)} | ${settled.peakMb.toFixed(0)} | ≤ 150 MB |\n\nbuild: ${build} (${entry}); node flags: ${nodeFlags.join(" ") || "(none)"}; V8 heap used ${heapMb.toFixed(0)} MB, external ${externalMb.toFixed(0)} MB at the settled reading`,
    );
    console.log(
      `\noperator CPU: ${cpuFirstPass.toFixed(1)} s for the whole wave over ${n} objects (${((cpuFirstPass / n) * 1000).toFixed(2)} s per 1,000), ${cpuSettlePerMinute.toFixed(2)} s per minute in the 30 s settle window, ${cpuIdlePerMinute.toFixed(2)} s in the idle minute after it (by thread: ${idleThreads || "none"}); RSS then ${afterIdle.rssMb.toFixed(0)} MB (${afterIdleBreakdown})`,
    );
    console.log(
      `\nall reconciled ${reconciledAfter.toFixed(0)} s after the first create, ${quiet ? `${last} reconciles and the queue empty after ${quietAfter.toFixed(0)} s` : `never quiet: ${last} reconciles by the 30-minute deadline (${quietAfter.toFixed(0)} s; Stalled objects are rechecked every 5 minutes, so N of them need N ÷ 300 passes per second)`}; whole run ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    operator.kill?.();
    await emu.stop();
    await cp.stop();
  }
}
