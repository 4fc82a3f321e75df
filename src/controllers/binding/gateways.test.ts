import { describe, expect, it } from "vitest";
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { bindingReferencedBy, gatewayServicesOf } from "./gateways.ts";

const SVC = (n: string) =>
  `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ApiManagement/service/${n}`;

const binding = { metadata: { name: "orders", namespace: "team-a" } } as LogicAppIdentityBinding;

function policy(
  name: string,
  over: { ns?: string; ref?: string; service?: string; deleting?: boolean } = {},
): ApimJwtPolicy {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "ApimJwtPolicy",
    metadata: {
      name,
      namespace: over.ns ?? "team-a",
      ...(over.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
    },
    spec: {
      apimServiceId: over.service ?? SVC("apim-a"),
      target: { apiId: "orders" },
      ...(over.ref !== undefined ? { bindingRef: { name: over.ref } } : {}),
    },
  } as ApimJwtPolicy;
}

describe("gatewayServicesOf", () => {
  const cases: { name: string; policies: ApimJwtPolicy[]; refuse?: string; want: string[] }[] = [
    { name: "no policy", policies: [], want: [] },
    { name: "a policy referencing it", policies: [policy("p", { ref: "orders" })], want: [SVC("apim-a")] },
    { name: "a policy without bindingRef", policies: [policy("p")], want: [] },
    { name: "a policy referencing another binding", policies: [policy("p", { ref: "other" })], want: [] },
    {
      name: "same name in another namespace",
      policies: [policy("p", { ref: "orders", ns: "team-b" })],
      want: [],
    },
    {
      name: "a policy being deleted",
      policies: [policy("p", { ref: "orders", deleting: true })],
      want: [],
    },
    {
      name: "two services, one listed twice in another case",
      policies: [
        policy("p1", { ref: "orders" }),
        policy("p2", { ref: "orders", service: SVC("APIM-A") }),
        policy("p3", { ref: "orders", service: SVC("apim-b") }),
      ],
      want: [SVC("apim-a"), SVC("apim-b")],
    },
    {
      name: "a policy its namespace may not place contributes nothing",
      policies: [policy("p1", { ref: "orders" }), policy("p2", { ref: "orders", service: SVC("apim-b") })],
      refuse: "p2",
      want: [SVC("apim-a")],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const verdict = (p: Readonly<ApimJwtPolicy>) =>
        p.metadata.name === c.refuse
          ? { reason: "NotAllowed" as const, rule: "spec.apim", message: "no" }
          : undefined;
      expect(gatewayServicesOf(binding, c.policies, verdict)).toEqual(c.want);
    });
});

describe("bindingReferencedBy", () => {
  it("the named binding in the policy's namespace", () => {
    expect(bindingReferencedBy(policy("p", { ref: "orders" }))).toEqual([
      { namespace: "team-a", name: "orders" },
    ]);
  });
  it("none without bindingRef", () => {
    expect(bindingReferencedBy(policy("p"))).toEqual([]);
  });
});
