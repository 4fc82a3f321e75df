/**
 * Two in-process figures for the scaling note: the memory 10,000 cached bindings take in the informer's form
 * (frozen, managedFields and kubectl's last-applied copy dropped) next to the same objects as the API server sends them, and `decide` throughput.
 */
import { performance } from "node:perf_hooks";
import type { LogicAppIdentityBinding } from "../src/api/v1alpha1/index.ts";
import type { AzurePorts } from "../src/azure/ports.ts";
import { withoutManagedFields } from "../src/runtime/informer.ts";
import { decide, gather } from "./core.ts";
import { ownershipMarker, roleAssignmentName } from "../src/azure/naming.ts";

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
