/**
 * The write-ahead seam keeps one ownership session per pass in flight, found by key. A session kept after its pass
 * holds the object as the API server returned it, the reconcile's context and logger: with thousands of bindings
 * cached, that was tens of KB per binding for as long as it existed (docs/benchmarks.md, memory).
 */
import { describe, expect, it } from "vitest";
import { FINALIZER, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { ReconcileContext } from "../../runtime/reconciler.ts";
import type { BindingPorts } from "./gather.ts";
import { bindingKind } from "./kind.ts";
import { BindingRecords, memoryRecordStore } from "./ownership.ts";

const signal = new AbortController().signal;
const binding = (name: string): LogicAppIdentityBinding => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "LogicAppIdentityBinding",
  metadata: { name, namespace: "team", uid: `uid-${name}`, finalizers: [FINALIZER] },
  spec: {
    logicAppId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/${name}`,
    identity: { type: "SystemAssigned" },
  },
});

/** Only open and closed are exercised: no hook that reads Azure or the caches runs. */
function kindWith(seam: BindingRecords) {
  const kind = bindingKind({ ports: {} as unknown as BindingPorts, records: seam });
  const ctx = { signal } as unknown as ReconcileContext<LogicAppIdentityBinding>;
  return (b: LogicAppIdentityBinding) => kind.open(b, { call: { signal }, ctx });
}

describe("BindingRecords sessions", () => {
  it("none is left once the passes of many bindings are over", () => {
    const seam = new BindingRecords({ records: memoryRecordStore() });
    const open = kindWith(seam);
    for (let i = 0; i < 200; i++) {
      const hooks = open(binding(`wf-${i}`));
      expect(seam.openSessions).toBe(1);
      hooks.closed?.();
    }
    expect(seam.openSessions).toBe(0);
  });

  it("a pass's intent finds its session while the pass runs, and none after it", async () => {
    const seam = new BindingRecords({ records: memoryRecordStore() });
    const b = binding("orders");
    const hooks = kindWith(seam)(b);
    await expect(seam.recordIntent(b, "LogicAppIdentityBinding", [], {})).resolves.toBeUndefined();
    hooks.closed?.();
    await expect(seam.recordIntent(b, "LogicAppIdentityBinding", [], {})).rejects.toThrow(
      "no ownership session",
    );
  });

  it("closing an earlier pass leaves the pass that replaced it", () => {
    const seam = new BindingRecords({ records: memoryRecordStore() });
    const open = kindWith(seam);
    const first = open(binding("orders"));
    open(binding("orders"));
    first.closed?.();
    expect(seam.openSessions).toBe(1);
  });
});
