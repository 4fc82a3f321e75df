import { describe, expect, it } from "vitest";
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import type { ApimJwtPolicy } from "../../api/v1alpha1/index.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { CacheReader } from "../../runtime/reconciler.ts";
import { TenancyFence } from "../tenancy/fence.ts";
import { decide, type Action } from "./decide.ts";
import { fingerprint } from "./kind.ts";

const RG = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-a";
const SVC = `${RG}/providers/Microsoft.ApiManagement/service/apim-a`;

function cache<T extends KubeObject>(items: T[]): CacheReader<T> {
  return { get: () => undefined, list: () => items, hasSynced: () => true };
}
const policy = (targets: ("Api" | "Global")[]): AzureAccessPolicy => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "AzureAccessPolicy",
  metadata: { name: "team-a" },
  spec: { namespaces: { names: ["team-a"] }, apimServices: [{ serviceId: RG, targets }] },
});
const jwt = (target: ApimJwtPolicy["spec"]["target"]): ApimJwtPolicy => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "ApimJwtPolicy",
  metadata: { name: "orders", namespace: "team-a", generation: 2 },
  spec: { apimServiceId: SVC, tenantId: "t", audiences: ["api://orders"], ...(target ? { target } : {}) },
});

describe("ApimJwtPolicy and tenancy", () => {
  it("a refused service or target: Stalled with the verdict, no write (decide never sees the document)", () => {
    const f = new TenancyFence({
      mode: "enforce",
      policies: cache([policy(["Api"])]),
      namespaces: cache([]),
    });
    const global = jwt({});
    const refusal = f.jwtPolicyVerdict(global);
    expect(refusal?.reason).toBe("NotAllowed");
    expect(f.jwtPolicyVerdict(jwt({ apiId: "orders" }))).toBeUndefined();
    const d = decide(
      {
        namespace: "team-a",
        name: "orders",
        uid: "u",
        generation: 2,
        spec: global.spec,
        fragmentId: "f",
        ownerMarker: "m",
        legacyFragmentId: "l",
      },
      { tenancy: refusal! },
      { hash: fingerprint },
    );
    expect(d.actions).toEqual([]);
    expect(d.stalled).toBe(true);
    expect(d.conditions.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "NotAllowed",
    });
    expect(d.conditions.find((c) => c.type === "Stalled")?.message).toContain("spec.apimServices[].targets");
  });

  it("the guard stops puts to a target the policies refuse now, never deletes; permissive lets all through", () => {
    const put: Action = { type: "putPolicy", xml: "<policies/>", ifMatch: "*" };
    const del: Action = { type: "deleteFragment", fragmentId: "f", ifMatch: "*" };
    const none = new TenancyFence({ mode: "enforce", policies: cache([]), namespaces: cache([]) });
    const r = none.jwtPolicyGuard(jwt({ apiId: "orders" }), [put, del]);
    expect(r.allowed).toEqual([del]);
    expect(r.denied.map((d) => d.reason)).toEqual(["NoAccessPolicy"]);
    const open = new TenancyFence({ mode: "permissive", policies: cache([]), namespaces: cache([]) });
    expect(open.jwtPolicyGuard(jwt({}), [put]).denied).toEqual([]);
  });
});
