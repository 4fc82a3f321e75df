/**
 * `npm run bench`: Azure calls per binding pass, counted (not timed) against the emulator through the real SDK
 * clients. Compares the operator's level-based pass with a blind-PUT reconciler (what Azure Service Operator does on
 * every resync) and converts both into what one subscription's ARM budget allows. Then the inventory against
 * per-object polling (./operator-sim.ts): cold start, requests per new binding, steady-state reads per hour, heal.
 *   npm run bench -- --bindings 20 --sizes 200 --spread 5 --time-scale 20
 * The 5,000-binding figures without the polling baseline (which alone takes most of the wall time at that size):
 *   npm run bench -- --bindings 1 --sizes 5000 --spread 1 --time-scale 20 --no-baseline --steady-minutes 5
 *   npm run bench -- --bindings 1 --sizes 5000 --spread 5 --spread-only --time-scale 2 --no-baseline --steady-minutes 5
 * (spread over 5 subscriptions it needs 5 times the request rate, which the process hosting the emulator serves
 * only at a lower time scale; docs/benchmarks.md, "5,000 bindings").
 * (heal is measured only at sizes up to 1,000, as the issue defines it; `--no-heal` skips it at every size).
 * The operator process's memory with 10,000 bindings cached, against a real kube-apiserver (./rss.ts):
 *   npm run bench -- --rss 10000
 * (the image's build and environment: `dist/bundle/main.js`; `--rss-build tsc` runs the previous image's
 * `dist/src/cli/main.js` of `npm run build` without the image's environment, for comparison).
 */
import { parseArgs } from "node:util";
import { startEmulator } from "../emulator/index.ts";
import { rfc3339, type LogicAppIdentityBinding } from "../src/api/v1alpha1/index.ts";
import { createAzurePorts } from "../src/azure/clients.ts";
import { createCredential } from "../src/azure/credential.ts";
import { ownershipMarker, roleAssignmentName } from "../src/azure/naming.ts";
import type { AzureCall } from "../src/azure/ports.ts";
import { cacheMemory, decideThroughput } from "./cache-and-decide.ts";
import { converge } from "./core.ts";
import { runScenario, type ScenarioResult } from "./operator-sim.ts";

const { values } = parseArgs({
  options: {
    bindings: { type: "string", default: "20" },
    /** Binding counts for the inventory vs polling table; "0" skips it. */
    sizes: { type: "string", default: "200" },
    /** Also run the largest size spread over this many subscriptions (inventory only); 1 skips it. */
    spread: { type: "string", default: "5" },
    /**
     * Only the spread scenario: 5,000 bindings over 5 subscriptions need 5 times the write rate of one, which the
     * process hosting the emulator reaches only at a lower time scale than the one-subscription run needs.
     */
    "spread-only": { type: "boolean", default: false },
    "time-scale": { type: "string", default: "20" },
    concurrency: { type: "string", default: "32" },
    /** The per-object polling baseline beside each size; off for the largest runs (it never finishes cold start). */
    baseline: { type: "boolean", default: true },
    /** The heal (10 % of the identities recreated) at the smallest size, when that is at most 1,000 bindings. */
    heal: { type: "boolean", default: true },
    /** With the heal: pin an ApimJwtPolicy to each recreated identity's binding and wait for its rule too. */
    apim: { type: "boolean", default: true },
    /** Unscaled minutes of steady state counted per scenario. */
    "steady-minutes": { type: "string", default: "10" },
    /** Only the memory bench (./rss.ts): the operator process's RSS with this many bindings cached. */
    rss: { type: "string" },
    /** With --rss: flags for the operator's node process, e.g. --node-flags=--max-semi-space-size=4 */
    "node-flags": { type: "string", default: "" },
    /** With --rss: "bundle" (what the image runs, `npm run build:bundle`) or "tsc" (dist/ of `npm run build`). */
    "rss-build": { type: "string", default: "bundle" },
  },
  allowNegative: true,
});
const N = Number(values.bindings);
// Ctrl-C (or `kill -INT`) exits normally, so `--cpu-prof` on a run stopped by hand still writes its profile.
process.once("SIGINT", () => process.exit(130));
if (values.rss !== undefined) {
  const { rssBench } = await import("./rss.ts");
  const build = values["rss-build"];
  if (build !== "bundle" && build !== "tsc") throw new Error(`--rss-build: "${build}" is not bundle or tsc`);
  await rssBench(Number(values.rss), values["node-flags"].split(" ").filter(Boolean), build);
  process.exit(0);
}

const emu = await startEmulator();
const ids = await emu.control.seedScenario();
const calls: AzureCall[] = [];
const ports = createAzurePorts({
  credential: createCredential("static"),
  armEndpoint: emu.url,
  graphEndpoint: emu.url,
  tlsCa: emu.caPem,
  onCall: (c) => calls.push(c),
});

// N Consumption Logic Apps without identity, each granted Key Vault Secrets User on its own vault and AddRole.
const bindings: LogicAppIdentityBinding[] = [];
for (let i = 0; i < N; i++) {
  const app = await emu.control.seedLogicApp({
    subscriptionId: ids.subscriptionId,
    resourceGroup: ids.resourceGroup,
    name: `wf-${i}`,
  });
  bindings.push({
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: `wf-${i}`, namespace: "bench", uid: `uid-${i}`, generation: 1 },
    spec: {
      logicAppId: app.id,
      identity: { type: "SystemAssigned" },
      roleAssignments: [
        {
          scope: `${ids.resourceGroupId}/providers/Microsoft.KeyVault/vaults/kv-${i}`,
          role: "Key Vault Secrets User",
        },
      ],
      appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
    },
  });
}

const now = () => rfc3339(new Date());
async function measure(name: string, pass: () => Promise<void>) {
  calls.length = 0;
  await emu.control.resetLog();
  await pass();
  const log = await emu.control.requestLog();
  const arm = log.filter((e) => e.api === "arm");
  const armWrites = arm.filter((e) => e.method !== "GET").length;
  const graph = log.filter((e) => e.api === "graph");
  const graphWrites = graph.filter((e) => e.method !== "GET").length;
  // The operator's own count (what its metrics report) must agree with what Azure saw.
  if (calls.length !== log.length)
    throw new Error(`${name}: client counted ${calls.length} calls, emulator ${log.length}`);
  return {
    name,
    total: log.length,
    armReads: arm.length - armWrites,
    armWrites,
    graphReads: graph.length - graphWrites,
    graphWrites,
  };
}

const rows: Awaited<ReturnType<typeof measure>>[] = [];
// 1. First convergence: status carried between passes as the reconciler would write it.
rows.push(
  await measure("first convergence", async () => {
    for (const b of bindings) {
      const r = await converge(b, ports, { now });
      if (r.stoppedBy) throw r.stoppedBy;
      b.status = r.status;
    }
  }),
);
// 2. Steady state: what every resync costs.
rows.push(
  await measure("steady-state pass", async () => {
    for (const b of bindings) {
      const r = await converge(b, ports, { now });
      if (r.succeeded.length > 0) throw new Error(`steady state wrote: ${JSON.stringify(r.succeeded)}`);
      b.status = r.status;
    }
  }),
);
// 3. Every identity recreated behind the operator's back: heal + sweep.
for (const b of bindings) {
  await emu.control.setLogicAppIdentity(b.spec.logicAppId, { type: "None" });
  await emu.control.setLogicAppIdentity(b.spec.logicAppId, { type: "SystemAssigned" });
}
rows.push(
  await measure("heal after identity recreation", async () => {
    for (const b of bindings) {
      const r = await converge(b, ports, { now });
      b.status = r.status;
    }
  }),
);
// 4. Baseline: a blind-PUT reconciler re-asserts everything on every resync (identity PUT, role assignment PUT,
//    app-role POST), which is what Azure Service Operator does.
rows.push(
  await measure("blind-PUT resync (baseline)", async () => {
    for (const b of bindings) {
      const principalId = b.status!.principalId!;
      await ports.logicApps.setIdentity(b.spec.logicAppId, {
        type: "SystemAssigned",
        userAssignedIdentityIds: [],
      });
      const ra = b.spec.roleAssignments![0]!;
      const def = (await ports.roleDefinitions.resolve(ra.scope, ra.role))!;
      await ports.roleAssignments
        .create({
          scope: ra.scope,
          name: roleAssignmentName(ra.scope, def.id, principalId),
          roleDefinitionId: def.id,
          principalId,
          description: ownershipMarker("bench", b.metadata.name, b.metadata.uid!),
        })
        .catch(() => undefined);
      await ports.graph
        .createAppRoleAssignment(
          ids.ordersApi.servicePrincipalId,
          principalId,
          ids.ordersApi.appRoles.AddRole,
        )
        .catch(() => undefined);
    }
  }),
);
// In-process figures while the converged bindings are at hand.
const decidePerSecond = await decideThroughput(bindings[0]!, ports);
const memory = cacheMemory(bindings[0]!);

const sizes = values.sizes
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const scale = Number(values["time-scale"]);
const concurrency = Number(values.concurrency);
const scenarios: ScenarioResult[] = [];
// Heal is measured at the smallest size (the issue: 10 % of 1,000) and never above 1,000 bindings: at 5,000 it would
// cost as much wall time as the rest of the run and answer no question the issue asks. Larger sizes measure cold
// start and steady state.
const healSize = values.heal ? Math.min(...sizes) : undefined;
for (const size of values["spread-only"] ? [] : sizes) {
  for (const mode of values.baseline ? (["inventory", "polling"] as const) : (["inventory"] as const))
    scenarios.push(
      await runScenario(emu, {
        mode,
        bindings: size,
        subscriptions: 1,
        timeScale: scale,
        concurrency,
        heal: size === healSize && size <= 1000,
        apim: values.apim,
        steadyMinutes: Number(values["steady-minutes"]),
      }),
    );
}
const spread = Number(values.spread);
if (sizes.length > 0 && spread > 1)
  scenarios.push(
    await runScenario(emu, {
      mode: "inventory",
      bindings: Math.max(...sizes),
      subscriptions: spread,
      timeScale: scale,
      concurrency,
      heal: false,
      steadyMinutes: Number(values["steady-minutes"]),
    }),
  );
await emu.stop();

console.log(
  `\nAzure requests for ${N} bindings (1 RBAC grant + 1 app-role grant each), counted by the emulator:\n`,
);
console.log("| pass | requests | ARM reads | ARM writes | Graph reads | Graph writes | per binding |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.total} | ${r.armReads} | ${r.armWrites} | ${r.graphReads} | ${r.graphWrites} | ${(r.total / N).toFixed(1)} |`,
  );
}
const steady = rows[1]!;
const base = rows[3]!;
// ARM refill per subscription (the emulated token bucket, as documented by ARM): reads 25/s, writes 10/s.
const per10min = { reads: 25 * 600, writes: 10 * 600 };
const sustain = (r: (typeof rows)[number]) =>
  Math.min(
    r.armReads ? Math.floor(per10min.reads / (r.armReads / N)) : Infinity,
    r.armWrites ? Math.floor(per10min.writes / (r.armWrites / N)) : Infinity,
  );
console.log(
  `\nWrites per steady-state pass, ours / blind PUT: ${steady.armWrites + steady.graphWrites} / ${base.armWrites + base.graphWrites}.`,
);
console.log(
  `Bindings one subscription sustains with a 10-minute resync (ARM refill 25 reads/s, 10 writes/s): ours ${sustain(steady)}, blind PUT ${sustain(base)} (ratio ${(sustain(steady) / sustain(base)).toFixed(2)}).`,
);

console.log(
  `\ndecide: ${Math.round(decidePerSecond)} objects/s (one converged binding, 20,000 calls). Informer cache, 10,000 bindings: ${(memory.full / 1e6).toFixed(1)} MB heap as served (with managedFields), ${(memory.stripped / 1e6).toFixed(1)} MB as cached (without).`,
);

if (scenarios.length > 0) {
  const f = (n: number | undefined, d = 0) => (n === undefined ? "–" : n.toFixed(d));
  console.log(
    `\nInventory vs per-object polling (time scale ${scale}×, ARM throttling on at the published limits, concurrency ${concurrency}; seconds unscaled):\n`,
  );
  console.log(
    "| mode | bindings | subs | cold start s | write floor s | ratio | per new binding: ARM r / w, Graph r / w | steady reads/h | steady writes/h | heal p50 / p95 / max s | objects failed by 429 | 429s seen |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |");
  for (const r of scenarios) {
    const per = (x: number) => (x / r.bindings).toFixed(2);
    const c = r.coldStart;
    console.log(
      `| ${r.mode} | ${r.bindings} | ${r.subscriptions} | ${f(r.coldStartSeconds)} | ${f(r.floorSeconds)} | ${r.floorSeconds > 0 ? (r.coldStartSeconds / r.floorSeconds).toFixed(2) : "–"} | ${per(c.armReads)} / ${per(c.armWrites)}, ${per(c.graphReads)} / ${per(c.graphWrites)} | ${r.readsPerHour} | ${r.writesPerHour} | ${f(r.healP50Seconds)} / ${f(r.healP95Seconds)} / ${f(r.healMaxSeconds)} | ${r.throttledObjects} | ${c.throttled} |`,
    );
  }
  // What one refresh costs is what steady state costs per interval: the figure that grows with pages, not passes.
  for (const r of scenarios)
    if (r.mode === "inventory")
      console.log(
        `One refresh, ${r.bindings} bindings / ${r.subscriptions} subs: ${r.refresh.armReads} ARM reads, ${r.refresh.graphReads} Graph reads. Graph write floor at the operator's budget (one per tenant): ${r.graphFloorSeconds.toFixed(0)} s.`,
      );
  console.log(
    `\nSteady reads/h and writes/h: every request sent during ${values["steady-minutes"]} unscaled minutes after the cold start, scaled to an hour (inventory refresh every 45 s and resync 6 h; polling resync 10 min). 429s seen: during the cold start.`,
  );
  for (const r of scenarios) {
    if (!r.heal) continue;
    const h = r.heal;
    const p = (xs: number[], q: number) =>
      f(xs[Math.min(xs.length - 1, Math.ceil((q / 100) * xs.length) - 1)]);
    console.log(
      `Heal (${r.mode}, ${r.bindings}): ${h.victims} identities recreated; healed = Azure holds every grant on the new principal, none left on the old one${h.apimSeconds.length ? ", and the pinned APIM rule names the new principal" : ""}: p50 ${p(h.seconds, 50)} / p95 ${p(h.seconds, 95)} / max ${f(h.seconds.at(-1))} s; grants alone p50 ${p(h.grantsSeconds, 50)} / p95 ${p(h.grantsSeconds, 95)} / max ${f(h.grantsSeconds.at(-1))} s${h.apimSeconds.length ? `; pinned rules alone p50 ${p(h.apimSeconds, 50)} / p95 ${p(h.apimSeconds, 95)} / max ${f(h.apimSeconds.at(-1))} s` : ""}; orphans left ${h.orphansLeft}; requests during the heal (refreshes included): ARM ${h.requests.armReads} reads / ${h.requests.armWrites} writes, Graph ${h.requests.graphReads} / ${h.requests.graphWrites}, ${h.requests.throttled} 429s; ApimJwtPolicy failed passes ${JSON.stringify(h.jwtFailures)}.`,
    );
  }
}
