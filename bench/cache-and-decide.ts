/**
 * Two in-process figures for the scaling note: the memory 10,000 cached bindings take in the informer's form
 * (frozen, managedFields and kubectl's last-applied copy dropped) next to the same objects as the API server sends them, and `decide` throughput.
 * A third, `claimPassCost`, is run by bench/claim-pass.ts (`npm run bench:claims`).
 */
import { performance } from "node:perf_hooks";
import type { LogicAppIdentityBinding } from "../src/api/v1alpha1/index.ts";
import type { AzurePorts } from "../src/azure/ports.ts";
import { withoutManagedFields } from "../src/runtime/informer.ts";
import { decide, gather } from "./core.ts";
import { ownershipMarker, roleAssignmentName } from "../src/azure/naming.ts";
import type { InformerHandler } from "../src/runtime/informer.ts";
import {
  BindingRecords,
  memoryRecordStore,
  type BindingClaims,
} from "../src/controllers/binding/ownership.ts";
import { indexedPeers, logicAppIndex } from "../src/controllers/binding/peers.ts";
import { decideClaim, type ClaimRecord } from "../src/controllers/shared/ownership.ts";
import { claimKeyOf } from "../src/controllers/shared/ownership-store.ts";

const naming = { roleAssignmentName, ownershipMarker };

function asServed(b: LogicAppIdentityBinding, i: number): LogicAppIdentityBinding {
  // What a list returns: server-side fields, and one managedFields entry per manager (kubectl, the operator's status).
  const fields = (manager: string, sub: string) => ({
    manager,
    operation: "Update",
    apiVersion: "identity.logicapp.dev/v1alpha1",
    time: "2026-12-04T09:00:00Z",
    fieldsType: "FieldsV1",
    ...(sub ? { subresource: sub } : {}),
    fieldsV1: JSON.parse(
      JSON.stringify({ "f:spec": b.spec, "f:status": b.status ?? {} }).replace(/"([^"]+)":/g, '"f:$1":'),
    ) as unknown,
  });
  return {
    ...structuredClone(b),
    metadata: {
      ...structuredClone(b.metadata),
      name: `${b.metadata.name}-${i}`,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      resourceVersion: String(100_000 + i),
      creationTimestamp: "2026-12-04T09:00:00Z",
      finalizers: ["identity.logicapp.dev/finalizer"],
      // kubectl apply keeps the whole object it applied in this annotation.
      annotations: {
        "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
          apiVersion: b.apiVersion,
          kind: b.kind,
          metadata: { name: b.metadata.name, namespace: b.metadata.namespace },
          spec: b.spec,
        }),
      },
      managedFields: [
        fields("kubectl-client-side-apply", ""),
        fields("logicapp-identity-operator", "status"),
      ],
    } as LogicAppIdentityBinding["metadata"],
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** Heap bytes per cached object, with and without managedFields (run node with --expose-gc for exact figures). */
export function cacheMemory(sample: LogicAppIdentityBinding, n = 10_000): { full: number; stripped: number } {
  const measure = (strip: boolean) => {
    const before = heapAfterGc();
    const cache = new Map<string, unknown>();
    for (let i = 0; i < n; i++) {
      const o = asServed(sample, i);
      cache.set(`ns/${o.metadata.name}`, deepFreeze(strip ? withoutManagedFields(o) : o));
    }
    const used = heapAfterGc() - before;
    if (cache.size !== n) throw new Error("cache lost objects");
    return used;
  };
  return { full: measure(false), stripped: measure(true) };
}

/** Objects `decide` handles per second, from one real observation gathered through the ports. */
export async function decideThroughput(
  binding: LogicAppIdentityBinding,
  ports: AzurePorts,
  iterations = 20_000,
): Promise<number> {
  const observed = await gather(binding, ports, { applyFailures: {}, createdAppRoleAssignmentIds: [] });
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  for (let i = 0; i < 1000; i++) decide(binding, observed, { now, naming });
  const t = performance.now();
  for (let i = 0; i < iterations; i++) decide(binding, observed, { now, naming });
  return iterations / ((performance.now() - t) / 1000);
}

/**
 * Issue 12: the ownership step of one pass (record read, claim decided) with `n` bindings cached, each on its own
 * Logic App and its claim already held, as in steady state. `walk` hands the session the whole cache (before the
 * index), `index` the Logic App index the operator keeps. Returns microseconds per pass, the mean over `passes`.
 */
export async function claimPassCost(n: number, mode: "walk" | "index", passes = 2000): Promise<number> {
  const objects = new Map<string, Readonly<LogicAppIdentityBinding>>();
  const handlers: InformerHandler<LogicAppIdentityBinding>[] = [];
  const index = logicAppIndex({ on: (h) => handlers.push(h) });
  const all: Readonly<LogicAppIdentityBinding>[] = [];
  for (let i = 0; i < n; i++) {
    const b = deepFreeze(sampleBinding(i));
    objects.set(`team/${b.metadata.name}`, b);
    all.push(b);
    for (const h of handlers) h("add", b);
  }
  const held = new Map<string, ClaimRecord>();
  const claims: BindingClaims = {
    claim: async (self, peers) => {
      const key = claimKeyOf(self.logicAppId);
      const d = decideClaim({ self, bindingsInCache: peers(held.get(key)), claim: held.get(key) });
      if (!d.owner) return d.holder;
      held.set(key, { logicAppId: key, namespace: self.namespace, name: self.name, uid: self.uid });
      return undefined;
    },
    release: async () => {},
  };
  const seam = new BindingRecords({ records: memoryRecordStore(), claims });
  const peers = mode === "index" ? indexedPeers({ get: (k) => objects.get(keyString(k)) }, index) : () => all;
  const signal = new AbortController().signal;
  const onePass = async (b: Readonly<LogicAppIdentityBinding>) => {
    const s = seam.open(b, signal, peers);
    await s.open();
    seam.close(s);
  };
  for (const b of all) await onePass(b); // claims taken, records absent: the steady state of a Stalled wave
  const t = performance.now();
  for (let i = 0; i < passes; i++) await onePass(all[(i * 7919) % n]!);
  return ((performance.now() - t) * 1000) / passes;
}

const keyString = (k: string | { namespace?: string; name: string }): string =>
  typeof k === "string" ? k : `${k.namespace ?? ""}/${k.name}`;

function sampleBinding(i: number): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: {
      name: `wf-${i}`,
      namespace: "team",
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      creationTimestamp: "2026-12-04T09:00:00Z",
      finalizers: ["identity.logicapp.dev/finalizer"],
    },
    spec: {
      logicAppId: `/subscriptions/s/resourceGroups/rg-${i % 50}/providers/Microsoft.Logic/workflows/wf-${i}`,
      identity: { type: "SystemAssigned" },
    },
  };
}
