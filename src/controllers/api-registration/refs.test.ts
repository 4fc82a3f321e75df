/** How the other kinds see a registration: the binding's resolved grants, the JWT facts, the Delete check. */
import { describe, expect, it } from "vitest";
import type { ApiRegistration, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { withRegistrationRefs } from "../binding/kind.ts";
import { issuerFor, ruleInput, type Desired } from "../jwt-policy/decide.ts";
import { bindingFacts } from "../jwt-policy/gather.ts";
import { grantingBindings } from "./gather.ts";
import { bindingsNamingRegistration } from "./watches.ts";

const registration = (status: ApiRegistration["status"] = {}): ApiRegistration => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "ApiRegistration",
  metadata: { name: "inventory", namespace: "team-a" },
  spec: { displayName: "Inventory", identifierUris: ["api://inventory"] },
  status,
});

const binding = (
  ns = "team-a",
  grants = [{ apiRegistrationRef: { name: "inventory" }, appRole: "AddRole" }],
) =>
  ({
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: ns, generation: 1 },
    spec: {
      logicAppId: "/subscriptions/x/resourceGroups/r/providers/Microsoft.Logic/workflows/w",
      identity: { type: "SystemAssigned" },
      appRoleAssignments: grants,
    },
    status: {
      principalId: "p-1",
      tenantId: "t-1",
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Ready",
          message: "",
          lastTransitionTime: "",
          observedGeneration: 1,
        },
      ],
    },
  }) as LogicAppIdentityBinding;

describe("a binding's apiRegistrationRef", () => {
  it("resolves to the registration's appId, and stays unresolved before it has one", () => {
    const resolved = withRegistrationRefs(binding(), () => registration({ appId: "app-1" }));
    expect(resolved.spec.appRoleAssignments).toEqual([{ api: "app-1", appRole: "AddRole" }]);
    const waiting = withRegistrationRefs(binding(), () => registration());
    expect(waiting.spec.appRoleAssignments).toEqual([
      { apiRegistrationRef: { name: "inventory" }, appRole: "AddRole" },
    ]);
    expect(
      withRegistrationRefs(binding(), () => undefined).spec.appRoleAssignments?.[0]?.api,
    ).toBeUndefined();
  });
});

describe("a JWT policy following a binding whose grants reference a registration", () => {
  const desired = (facts: ReturnType<typeof bindingFacts>): Desired => ({
    namespace: "team-a",
    name: "jwt",
    uid: "u",
    spec: { apimServiceId: "/x", bindingRef: { name: "orders" } },
    fragmentId: "f",
    ownerMarker: "m",
    legacyFragmentId: "l",
    binding: facts,
  });

  it("v1: the identifier URI and the sts.windows.net issuer", () => {
    const facts = bindingFacts("orders", binding(), () =>
      registration({ appId: "app-1", tokenVersion: 1, identifierUris: ["api://inventory"] }),
    );
    const r = ruleInput(desired(facts));
    expect(r.ok && r.input.audiences).toEqual(["api://inventory"]);
    expect(r.ok && r.input.issuers).toEqual(["https://sts.windows.net/t-1/"]);
  });

  it("v2: the appId (client ID) and the login.microsoftonline.com v2.0 issuer", () => {
    const facts = bindingFacts("orders", binding(), () => registration({ appId: "app-1", tokenVersion: 2 }));
    const r = ruleInput(desired(facts));
    expect(r.ok && r.input.audiences).toEqual(["app-1"]);
    expect(r.ok && r.input.issuers).toEqual([issuerFor("t-1", 2)]);
    expect(issuerFor("t-1", 2)).toBe("https://login.microsoftonline.com/t-1/v2.0");
  });
});

describe("grantingBindings (the Delete check)", () => {
  const app = {
    id: "obj-1",
    appId: "APP-1",
    displayName: "",
    identifierUris: ["api://inventory"],
    appRoles: [],
    requestedAccessTokenVersion: null,
    signInAudience: "",
  };
  it("counts references in the same namespace, appId or URI anywhere, and grants status still reports", () => {
    const byRef = binding();
    const byRefElsewhere = binding("team-b");
    const byUri = binding("team-c", [{ api: "api://inventory", appRole: "AddRole" }] as never);
    const byStatus = {
      ...binding("team-d", [] as never),
      status: {
        appRoleAssignments: [{ api: "x", appRole: "A", resourceId: "SP-1", state: "Granted" as const }],
      },
    } as LogicAppIdentityBinding;
    const unrelated = binding("team-e", [{ api: "api://other", appRole: "AddRole" }] as never);
    expect(
      grantingBindings(registration(), app, "sp-1", [byRef, byRefElsewhere, byUri, byStatus, unrelated]),
    ).toEqual(["team-a/orders", "team-c/orders", "team-d/orders"]);
  });
});

describe("bindingsNamingRegistration (which JWT policies a registration change wakes)", () => {
  const APP = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
  const named = (ns: string, name: string, grants: Array<Record<string, unknown>>) => {
    const b = binding(ns, grants as never);
    return { ...b, metadata: { ...b.metadata, name } } as LogicAppIdentityBinding;
  };
  const cache = [
    named("team-a", "by-ref", [{ apiRegistrationRef: { name: "inventory" }, appRole: "AddRole" }]),
    named("team-b", "ref-elsewhere", [{ apiRegistrationRef: { name: "inventory" }, appRole: "AddRole" }]),
    named("team-b", "by-uri", [{ api: "api://inventory", appRole: "AddRole" }]),
    named("team-c", "by-app-id", [{ api: APP.toUpperCase(), appRole: "AddRole" }]),
    named("team-c", "other-api", [{ api: "api://orders", appRole: "AddRole" }]),
  ];
  const list = { list: (ns?: string) => cache.filter((b) => !ns || b.metadata.namespace === ns) };
  const names = (keys: { namespace?: string; name: string }[]) =>
    keys.map((k) => `${k.namespace}/${k.name}`).sort();

  it("a reference in its namespace, and its appId (any case) or identifier URI from any namespace", () => {
    const reg = registration({ appId: APP, identifierUris: ["api://inventory"], tokenVersion: 2 });
    expect(names(bindingsNamingRegistration(reg, list))).toEqual([
      "team-a/by-ref",
      "team-b/by-uri",
      "team-c/by-app-id",
    ]);
  });

  it("before its status names anything, only references", () => {
    expect(names(bindingsNamingRegistration(registration(), list))).toEqual(["team-a/by-ref"]);
  });
});
