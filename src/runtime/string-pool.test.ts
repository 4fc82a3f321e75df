import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { shareStrings, StringPool } from "./string-pool.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A denied binding's status as the API server sends it: one message in each condition and each grant entry. */
function served(i: number): string {
  const message = `namespace "team" may not bind Logic App /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Logic/workflows/wf-${i}: no AzureAccessPolicy selects it; ask a cluster admin for one that allows this Logic App, its scopes, roles and APIs`;
  const condition = (type: string) => ({ type, status: "False", reason: "NoAccessPolicy", message });
  return JSON.stringify({
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: `wf-${i}`, namespace: "team", finalizers: ["identity.logicapp.dev/cleanup"] },
    spec: { roleAssignments: [{ role: "Key Vault Secrets User" }, { role: "Reader" }] },
    status: {
      conditions: ["Ready", "IdentityReady", "RoleAssignmentsReady", "AppRoleAssignmentsReady"].map(
        condition,
      ),
      roleAssignments: [{ message }, { message }, { message }],
      appRoleAssignments: [{ message }],
    },
  });
}

describe("shareStrings", () => {
  it("keeps every value equal and leaves frozen parts alone", () => {
    const pool = new StringPool();
    const text = served(1);
    const frozen = Object.freeze({ note: "x".repeat(10) });
    const obj = { ...(JSON.parse(text) as object), frozen };
    expect(shareStrings(obj, pool)).toBe(obj);
    expect(JSON.stringify(obj)).toBe(JSON.stringify({ ...(JSON.parse(text) as object), frozen }));
    expect(obj.frozen).toBe(frozen);
  });

  it("halves the heap 5,000 denied bindings take in the cache", () => {
    const pool = new StringPool();
    const texts = Array.from({ length: 5_000 }, (_, i) => served(i));
    const measure = (share: boolean) => {
      const before = heapAfterGc();
      const cache = texts.map((t) => (share ? shareStrings(JSON.parse(t) as object, pool) : JSON.parse(t)));
      const used = heapAfterGc() - before;
      expect(cache).toHaveLength(texts.length);
      return used;
    };
    const plain = measure(false);
    const shared = measure(true);
    // Plain: 8 copies of a ≈ 270-byte message per object (≈ 11 MB for 5,000) plus one copy per object of every
    // type, reason and role; shared: one message per object and one pooled copy of the rest.
    expect(plain).toBeGreaterThan(10e6);
    expect(shared).toBeLessThan(plain / 2);
  });
});

describe("StringPool", () => {
  it("stays bounded by two generations however many unique strings pass through it", () => {
    const pool = new StringPool(100);
    for (let i = 0; i < 10_000; i++) pool.share(`uid-${i}`);
    expect(pool.size).toBeLessThanOrEqual(200);
  });

  it("keeps a string every object repeats across generations", () => {
    const pool = new StringPool(100);
    const first = pool.share("Key Vault Secrets User");
    for (let i = 0; i < 10_000; i++) {
      pool.share(`uid-${i}`);
      if (i % 50 === 0) pool.share("Key Vault Secrets User");
    }
    expect(pool.has(first)).toBe(true);
    expect(pool.has("uid-0")).toBe(false);
  });
});
