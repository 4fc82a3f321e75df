import { describe, expect, it } from "vitest";
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import { decide } from "./decide.ts";

function policy(namespaces: AzureAccessPolicy["spec"]["namespaces"], warned = false): AzureAccessPolicy {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "AzureAccessPolicy",
    metadata: { name: "p", generation: 3 },
    spec: { namespaces },
    ...(warned
      ? {
          status: {
            conditions: [
              {
                type: "Warning",
                status: "True" as const,
                reason: "NoNamespaceSelected",
                message: "",
                lastTransitionTime: "2026-12-04T00:00:00Z",
              },
            ],
          },
        }
      : {}),
  };
}

const world = [
  { name: "orders-dev", labels: { team: "orders" } },
  { name: "orders-prod", labels: { team: "orders" } },
  { name: "payments", labels: { team: "payments" } },
  ...Array.from({ length: 30 }, (_, i) => ({
    name: `bulk-${String(i).padStart(2, "0")}`,
    labels: { bulk: "y" },
  })),
];

describe("AzureAccessPolicy status", () => {
  it("counts and lists the namespaces selected by name or label, sorted", () => {
    const d = decide(policy({ names: ["payments"], selector: { matchLabels: { team: "orders" } } }), {
      namespaces: world,
    });
    expect(d.status).toEqual({
      observedGeneration: 3,
      selectedNamespaces: 3,
      namespaces: ["orders-dev", "orders-prod", "payments"],
    });
    expect(d.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([["Ready", "True", "Selecting"]]);
    expect(d.dropConditions).toEqual(["Warning"]);
    expect(d.actions).toEqual([]);
  });

  it("lists at most 20 names, the count stays complete", () => {
    const d = decide(policy({ selector: { matchLabels: { bulk: "y" } } }), { namespaces: world });
    expect(d.status.selectedNamespaces).toBe(30);
    expect(d.status.namespaces).toHaveLength(20);
    expect(d.status.namespaces?.[0]).toBe("bulk-00");
  });

  it("selecting nothing: a Warning condition, and one Event when it first appears", () => {
    const first = decide(policy({ names: ["orders-dve"] }), { namespaces: world });
    expect(first.conditions.find((c) => c.type === "Warning")).toMatchObject({
      status: "True",
      reason: "NoNamespaceSelected",
    });
    expect(first.findings.map((f) => f.event?.reason)).toEqual(["NoNamespaceSelected"]);
    const again = decide(policy({ names: ["orders-dve"] }, true), { namespaces: world });
    expect(again.findings).toEqual([]);
    expect(again.status.selectedNamespaces).toBe(0);
  });
});
