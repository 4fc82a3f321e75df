/**
 * The bounded subset of the reliability matrix (docs/reliability.md) that runs with the cluster project on every
 * change, so the harness cannot rot: Azure faults at 10 % over a small fleet, a slice of the hostile corpus, and a
 * few SIGKILLs of the operator process, each ending with every invariant. The full matrix:
 * `npm run test:reliability`. Same seeds: RELIABILITY_SEED replays a failure here too.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startEmulator } from "../../emulator/index.ts";
import {
  API_REGISTRATION_RESOURCE,
  BINDING_RESOURCE,
  JWT_POLICY_RESOURCE,
} from "../../src/controllers/resources.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { deleteAccessPolicy } from "../support/access-policy.ts";
import { findUnconverged, outcomeOf } from "../support/invariants.ts";
import { freshNamespace, kubeConfig } from "../support/kube.ts";
import { startTestOperator } from "../support/operator.ts";
import { corpus, registrationCorpus } from "../reliability/corpus.ts";
import {
  azureFaultMix,
  assertAlive,
  deleteFleet,
  killHard,
  lastLogSeq,
  makeFleet,
  observe,
  printTable,
  rows,
  scenario,
  seedFor,
  sleep,
  spawnOperator,
  verify,
  waitConverged,
  type Env,
  type OperatorProcess,
} from "../reliability/harness.ts";

const SCRIPT = "npx vitest run --project cluster test/cluster/reliability-ci.test.ts";
let env: Env;
let caFile: string;
const namespacesUsed: string[] = [];

beforeAll(async () => {
  const kubeconfigPath = inject("kubeconfig");
  const emu = await startEmulator();
  caFile = join(mkdtempSync(join(tmpdir(), "laio-rel-")), "ca.pem");
  writeFileSync(caFile, emu.caPem);
  env = { kubeconfigPath, client: new KubeClient(kubeConfig(kubeconfigPath)), emu };
});

afterAll(async () => {
  printTable(rows);
  for (const ns of namespacesUsed) await deleteAccessPolicy(env.client, `scenario-${ns}`);
  env?.client.close();
  await env?.emu.stop();
});

async function names(prefix: string) {
  const kc = kubeConfig(env.kubeconfigPath);
  const n = { ns: await freshNamespace(kc, prefix), recordsNs: await freshNamespace(kc, `${prefix}-rec`) };
  namespacesUsed.push(n.ns);
  return n;
}

describe("reliability subset", () => {
  it("azure faults 10% (ci)", async () => {
    const name = "azure faults 10% (ci)";
    await scenario(
      name,
      seedFor(name),
      async () => {
        const n = await names("rci-az");
        let manager: Manager | undefined;
        try {
          const fleet = await makeFleet(env, { ...n, bindings: 2, jwt: true });
          for (const f of azureFaultMix(0.1, seedFor(name))) await env.emu.control.injectFault(f);
          const started = Date.now();
          manager = await startTestOperator({
            kubeconfigPath: env.kubeconfigPath,
            namespace: n.ns,
            recordsNamespace: n.recordsNs,
            emulator: env.emu,
            requestTimeoutMs: 1_000,
          });
          const convergeMs = await waitConverged(env, fleet, 45_000, started);
          const fired = (await env.emu.control.listFaults()).reduce((s, f) => s + f.hits, 0);
          expect(fired).toBeGreaterThan(0);
          await env.emu.control.clearFaults();
          await waitConverged(env, fleet, 70_000, Date.now(), { ready: true });
          await sleep(1_000);
          await verify(env, fleet);
          await deleteFleet(env, fleet, 20_000);
          return { faults: `${fired} (rate 0.1)`, convergeMs };
        } finally {
          await env.emu.control.clearFaults();
          await manager?.stop();
        }
      },
      SCRIPT,
    );
  });

  it("hostile corpus slice and SIGKILLs (ci)", async () => {
    const name = "hostile corpus slice and SIGKILLs (ci)";
    await scenario(
      name,
      seedFor(name),
      async (rng) => {
        const n = await names("rci-crash");
        let op: OperatorProcess | undefined;
        try {
          // The fleet's own ApiRegistration objects are exercised by the 10 % test; here only their corpus.
          const fleet = await makeFleet(env, { ...n, bindings: 2, jwt: false, kinds: false });
          const all = corpus(fleet.ids, fleet.logicApps[0]!);
          const regs = registrationCorpus(fleet.ids, {
            prefix: fleet.registrationPrefix,
            foreignUri: fleet.foreignAppUri,
            own: { name: "reg-0", uri: `${fleet.registrationPrefix}/orders` },
            spare: fleet.logicApps,
            namespace: n.ns,
          });
          // One of each expectation the full corpus has, chosen by the seed.
          const slice = ["admission", "stalled", "inert"].map((x) => {
            const of = all.filter((e) => e.expect === x);
            return of[Math.floor(rng() * of.length)]!;
          });
          // One ApiRegistration that must stall after reading Graph: a person's application it may not adopt.
          slice.push(regs.find((e) => e.name === "registration adopts a person's application")!);
          // The fleet holds its Logic Apps first: a claim goes to whichever object is reconciled first, and the
          // corpus's "claimed" entry must be the one that loses.
          op = spawnOperator(env, { ...n, caFile });
          await waitConverged(env, fleet, 30_000);
          const created: string[] = [];
          for (const [i, e] of slice.entries()) {
            const resource =
              e.kind === "ApimJwtPolicy"
                ? JWT_POLICY_RESOURCE
                : e.kind === "ApiRegistration"
                  ? API_REGISTRATION_RESOURCE
                  : BINDING_RESOURCE;
            const ok = await env.client
              .create(resource, n.ns, {
                apiVersion: "identity.logicapp.dev/v1alpha1",
                kind: e.kind,
                metadata: { name: `bad-${i}`, namespace: n.ns },
                spec: e.spec,
              })
              .then(
                () => true,
                () => false,
              );
            if (e.expect === "admission") expect(ok, `${e.name} admitted`).toBe(false);
            if (e.expect === "stalled") expect(ok, `${e.name} refused`).toBe(true);
            if (ok) created.push(`${e.kind}/bad-${i}`);
          }
          const kills = 3;
          for (let k = 0; k < kills; k++) {
            if (k > 0) op = spawnOperator(env, { ...n, caFile });
            const seq = await lastLogSeq(env.emu);
            const deadline = Date.now() + 4_000;
            while (Date.now() < deadline && (await lastLogSeq(env.emu)) === seq) await sleep(20);
            await sleep(Math.floor(rng() * 300));
            assertAlive(op, `crash cycle ${k}`);
            await killHard(op);
          }
          op = spawnOperator(env, { ...n, caFile });
          const started = Date.now();
          const convergeMs = await waitConverged(env, fleet, 45_000, started);
          const probes = ["LogicAppIdentityBinding", "ApimJwtPolicy", "ApiRegistration"].map((kind) => ({
            kind,
            resource:
              kind === "ApimJwtPolicy"
                ? JWT_POLICY_RESOURCE
                : kind === "ApiRegistration"
                  ? API_REGISTRATION_RESOURCE
                  : BINDING_RESOURCE,
            names: created.filter((c) => c.startsWith(`${kind}/`)).map((c) => c.split("/")[1]!),
          }));
          let objs = await observe(env, n.ns, probes);
          while (objs.some((o) => !outcomeOf(o)) && Date.now() - started < 30_000) {
            await sleep(300);
            objs = await observe(env, n.ns, probes);
          }
          expect(findUnconverged(objs)).toEqual([]);
          await sleep(1_000);
          await verify(env, fleet);
          for (const p of probes)
            if (p.kind === "LogicAppIdentityBinding") fleet.bindings.push(...p.names);
            else if (p.kind === "ApiRegistration") fleet.registrations.push(...p.names);
            else fleet.policies.push(...p.names);
          await deleteFleet(env, fleet, 20_000);
          assertAlive(op, "the final run");
          return { faults: `${kills} SIGKILLs, ${slice.length} bad objects`, convergeMs };
        } finally {
          if (op) await killHard(op);
        }
      },
      SCRIPT,
    );
  });
});
