/**
 * The CRDs on a real kube-apiserver: they install and become Established, the examples are accepted, malformed
 * objects are rejected with a message naming the field, and kubectl shows what a user expects.
 */
import * as k8s from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { freshNamespace, kubeConfig, kubectl } from "../support/kube.ts";

const GROUP = "identity.logicapp.dev";
const VERSION = "v1alpha1";
const SUB = "00000000-0000-0000-0000-0000000000a1";
const LOGIC_APP = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders`;
const VAULT = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv`;
const UAMI = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-orders`;
const APIM = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-1`;
const TENANT = "00000000-0000-0000-0000-0000000000f1";

let kc: k8s.KubeConfig;
let api: k8s.CustomObjectsApi;
let kubeconfigPath: string;
let ns: string;

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  kc = kubeConfig(kubeconfigPath);
  api = kc.makeApiClient(k8s.CustomObjectsApi);
  ns = await freshNamespace(kc, "crd");
});

const binding = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "LogicAppIdentityBinding",
  metadata: { name },
  spec,
});
const jwt = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "ApimJwtPolicy",
  metadata: { name },
  spec,
});
const validBindingSpec = () => ({
  logicAppId: LOGIC_APP,
  identity: { type: "SystemAssigned" },
  roleAssignments: [{ scope: VAULT, role: "Key Vault Secrets User" }],
  appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
});
const validJwtSpec = () => ({
  apimServiceId: APIM,
  target: { apiId: "orders-api" },
  tenantId: TENANT,
  audiences: ["api://orders"],
});

async function create(
  obj: { kind: string; metadata: { name: string } } & Record<string, unknown>,
): Promise<void> {
  await api.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural:
      obj.kind === "ApimJwtPolicy"
        ? "apimjwtpolicies"
        : obj.kind === "ApiRegistration"
          ? "apiregistrations"
          : "logicappidentitybindings",
    body: obj,
    // What kubectl sends by default: unknown fields are an error, not silently pruned.
    fieldValidation: "Strict",
  });
}

async function rejection(obj: Parameters<typeof create>[0]): Promise<string> {
  try {
    await create(obj);
  } catch (e) {
    const err = e as { code?: number; body?: string };
    expect([400, 422]).toContain(err.code);
    return String(err.body);
  }
  throw new Error(`${obj.metadata.name} was accepted`);
}

describe("CRDs on a real API server", () => {
  it("accepts every object in examples/", async () => {
    for (const file of ["seed-scenario.yaml", "standard-user-assigned.yaml"]) {
      for (const doc of parseAllDocuments(
        readFileSync(new URL(`../../examples/${file}`, import.meta.url), "utf8"),
      )) {
        const obj = doc.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
        // Cluster-scoped: the schema is checked by the tenancy suites, which create and delete policies.
        if (obj.kind === "AzureAccessPolicy") continue;
        delete obj.metadata.namespace;
        await create(obj as Parameters<typeof create>[0]);
      }
    }
    const list = await api.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: "logicappidentitybindings",
    });
    expect((list as { items: unknown[] }).items).toHaveLength(2);
  });

  it("accepts ARM IDs in any case, as Azure returns them (the API server evaluates the patterns with RE2)", async () => {
    await create(
      binding("lowercase", {
        logicAppId: LOGIC_APP.replace("resourceGroups", "resourcegroups").replace(
          "Microsoft.Logic",
          "microsoft.logic",
        ),
        identity: { type: "UserAssigned", userAssignedIdentityId: UAMI.toLowerCase() },
        roleAssignments: [{ scope: VAULT.toUpperCase().replace(SUB.toUpperCase(), SUB), role: "Reader" }],
      }),
    );
  });

  it("defaults deletionPolicy to Delete", async () => {
    await create(binding("defaulted", validBindingSpec()));
    const got = (await api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: "logicappidentitybindings",
      name: "defaulted",
    })) as { spec: { deletionPolicy: string } };
    expect(got.spec.deletionPolicy).toBe("Delete");
  });

  // Each case: a malformed object and the field path the API server's message must name.
  const malformed: Array<[string, Parameters<typeof create>[0], RegExp]> = [
    [
      "missing spec",
      { apiVersion: `${GROUP}/${VERSION}`, kind: "LogicAppIdentityBinding", metadata: { name: "m1" } },
      /spec/,
    ],
    ["missing logicAppId", binding("m2", { identity: { type: "SystemAssigned" } }), /spec\.logicAppId/],
    [
      "logicAppId of the wrong resource type",
      binding("m3", { ...validBindingSpec(), logicAppId: VAULT }),
      /spec\.logicAppId/,
    ],
    [
      "logicAppId with a non-GUID subscription",
      binding("m4", { ...validBindingSpec(), logicAppId: LOGIC_APP.replace(SUB, "my-sub") }),
      /spec\.logicAppId/,
    ],
    [
      "unknown identity type",
      binding("m5", { ...validBindingSpec(), identity: { type: "Both" } }),
      /spec\.identity\.type/,
    ],
    [
      "UserAssigned without an identity ID",
      binding("m6", { ...validBindingSpec(), identity: { type: "UserAssigned" } }),
      /spec\.identity\.userAssignedIdentityId/,
    ],
    [
      "SystemAssigned with an identity ID",
      binding("m7", {
        ...validBindingSpec(),
        identity: { type: "SystemAssigned", userAssignedIdentityId: UAMI },
      }),
      /spec\.identity\.userAssignedIdentityId/,
    ],
    [
      "user-assigned identity ID that is not one",
      binding("m8", {
        ...validBindingSpec(),
        identity: { type: "UserAssigned", userAssignedIdentityId: VAULT },
      }),
      /spec\.identity\.userAssignedIdentityId/,
    ],
    [
      "role assignment scope that is not an ARM ID",
      binding("m9", { ...validBindingSpec(), roleAssignments: [{ scope: "kv-orders", role: "Reader" }] }),
      /spec\.roleAssignments\[0\]\.scope/,
    ],
    [
      "role assignment without role",
      binding("m10", { ...validBindingSpec(), roleAssignments: [{ scope: VAULT }] }),
      /spec\.roleAssignments\[0\]\.role/,
    ],
    [
      "duplicate role assignment",
      binding("m11", {
        ...validBindingSpec(),
        roleAssignments: [
          { scope: VAULT, role: "Reader" },
          { scope: VAULT, role: "Reader" },
        ],
      }),
      /spec\.roleAssignments\[1\]/,
    ],
    [
      "too many role assignments",
      binding("m12", {
        ...validBindingSpec(),
        roleAssignments: Array.from({ length: 33 }, (_, i) => ({ scope: VAULT, role: `Role ${i}` })),
      }),
      /spec\.roleAssignments/,
    ],
    [
      "app role API that is neither GUID nor URI",
      binding("m13", { ...validBindingSpec(), appRoleAssignments: [{ api: "orders", appRole: "AddRole" }] }),
      /spec\.appRoleAssignments\[0\]\.api/,
    ],
    [
      "app role value with a space",
      binding("m14", {
        ...validBindingSpec(),
        appRoleAssignments: [{ api: "api://orders", appRole: "Add Role" }],
      }),
      /spec\.appRoleAssignments\[0\]\.appRole/,
    ],
    [
      "unknown deletionPolicy",
      binding("m15", { ...validBindingSpec(), deletionPolicy: "Keep" }),
      /spec\.deletionPolicy/,
    ],
    ["unknown field in spec", binding("m16", { ...validBindingSpec(), principalId: "x" }), /spec/],
    [
      "JWT policy with productId and apiId",
      jwt("j1", { ...validJwtSpec(), target: { productId: "p", apiId: "a" } }),
      /spec\.target/,
    ],
    [
      "JWT policy operation without API",
      jwt("j2", { ...validJwtSpec(), target: { operationId: "get-order" } }),
      /spec\.target\.operationId/,
    ],
    [
      "JWT policy without audiences or bindingRef",
      jwt("j3", { apimServiceId: APIM, tenantId: TENANT }),
      /spec\.audiences/,
    ],
    [
      "JWT policy without tenant or bindingRef",
      jwt("j4", { apimServiceId: APIM, audiences: ["api://orders"] }),
      /spec\.tenantId/,
    ],
    [
      "JWT policy with a non-APIM service ID",
      jwt("j5", { ...validJwtSpec(), apimServiceId: VAULT }),
      /spec\.apimServiceId/,
    ],
    [
      "JWT policy with an out-of-range status code",
      jwt("j6", { ...validJwtSpec(), failedValidation: { httpCode: 200 } }),
      /spec\.failedValidation\.httpCode/,
    ],
    [
      "JWT policy with too many audiences",
      jwt("j7", { ...validJwtSpec(), audiences: Array.from({ length: 11 }, (_, i) => `api://a${i}`) }),
      /spec\.audiences/,
    ],
    ["JWT policy with an unknown mode", jwt("j8", { ...validJwtSpec(), mode: "Replace" }), /spec\.mode/],
    [
      "JWT policy whose message is a policy expression",
      jwt("j10", { ...validJwtSpec(), failedValidation: { message: '@(context.Variables["secret"])' } }),
      /spec\.failedValidation\.message.*must not start with '@'/,
    ],
    [
      "JWT policy whose audience is a named value",
      jwt("j11", { ...validJwtSpec(), audiences: ["{{backend-secret}}"] }),
      /spec\.audiences\[0\].*contain '\{\{'/,
    ],
    [
      "JWT policy whose required role is an expression",
      jwt("j12", { ...validJwtSpec(), requiredRoles: ["@(1)"] }),
      /spec\.requiredRoles\[0\]/,
    ],
    [
      "JWT policy with a plain-http OpenID URL",
      jwt("j9", { ...validJwtSpec(), openIdConfigUrl: "http://login.example/x" }),
      /spec\.openIdConfigUrl/,
    ],
  ];

  it.each(malformed)("rejects %s, naming the field", async (_name, obj, field) => {
    const body = await rejection(obj);
    expect(body).toMatch(field);
  });

  const registration = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "ApiRegistration",
    metadata: { name },
    spec: { displayName: "Orders", identifierUris: ["api://orders"], ...spec },
  });

  it("ApiRegistration: defaults deletionPolicy to Orphan and the token version to 1", async () => {
    await create(registration("reg-defaults", { appRoles: [{ value: "AddRole", displayName: "Add" }] }));
    const got = (await api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: "apiregistrations",
      name: "reg-defaults",
    })) as {
      spec: {
        deletionPolicy: string;
        requestedAccessTokenVersion: number;
        appRoles: { allowedMemberTypes: string[]; enabled: boolean }[];
      };
    };
    expect(got.spec.deletionPolicy).toBe("Orphan");
    expect(got.spec.requestedAccessTokenVersion).toBe(1);
    expect(got.spec.appRoles[0]).toMatchObject({ allowedMemberTypes: ["Application"], enabled: true });
  });

  const badRegistrations: [string, Record<string, unknown>, RegExp][] = [
    [
      "a trailing slash, saying why",
      { identifierUris: ["api://orders/"] },
      /trailing slash makes the audience differ/,
    ],
    ["a URI that is neither api:// nor https://", { identifierUris: ["http://orders"] }, /identifierUris/],
    [
      "two app roles with one value",
      {
        appRoles: [
          { value: "A", displayName: "a" },
          { value: "A", displayName: "b" },
        ],
      },
      /Duplicate value/,
    ],
    ["token version 3", { requestedAccessTokenVersion: 3 }, /requestedAccessTokenVersion/],
    [
      "an unknown member type",
      { appRoles: [{ value: "A", displayName: "a", allowedMemberTypes: ["Robot"] }] },
      /allowedMemberTypes/,
    ],
    ["deletionPolicy Purge", { deletionPolicy: "Purge" }, /deletionPolicy/],
  ];
  it.each(badRegistrations)("ApiRegistration: rejects %s", async (_name, spec, message) => {
    expect(await rejection(registration("bad-reg", spec) as Parameters<typeof create>[0])).toMatch(message);
  });

  it("a binding's app-role grant takes api or apiRegistrationRef, exactly one, and each once", async () => {
    const both = binding("both-refs", {
      ...validBindingSpec(),
      appRoleAssignments: [
        { api: "api://orders", apiRegistrationRef: { name: "orders" }, appRole: "AddRole" },
      ],
    });
    expect(await rejection(both)).toMatch(/exactly one of them/);
    const twice = binding("twice", {
      ...validBindingSpec(),
      appRoleAssignments: [
        { apiRegistrationRef: { name: "orders" }, appRole: "AddRole" },
        { apiRegistrationRef: { name: "orders" }, appRole: "AddRole" },
      ],
    });
    expect(await rejection(twice)).toMatch(/appears once/);
    await create(
      binding("by-ref", {
        ...validBindingSpec(),
        appRoleAssignments: [{ apiRegistrationRef: { name: "orders" }, appRole: "AddRole" }],
      }),
    );
  });

  it("keeps logicAppId immutable", async () => {
    await create(binding("immutable", validBindingSpec()));
    const patch = [{ op: "replace", path: "/spec/logicAppId", value: LOGIC_APP.replace("orders", "other") }];
    const err = await api
      .patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: "logicappidentitybindings",
          name: "immutable",
          body: patch,
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      )
      .then(
        () => undefined,
        (e: { body?: string }) => String(e.body),
      );
    expect(err).toMatch(/logicAppId is immutable/);
  });
});

describe("kubectl", () => {
  it("lists bindings as identitybindings with the printer columns", async () => {
    const out = await kubectl(kubeconfigPath, ["get", "identitybindings", "-n", ns]);
    expect(out.code).toBe(0);
    const header = out.stdout.split("\n")[0]!;
    expect(header.split(/\s+/)).toEqual(["NAME", "READY", "REASON", "PRINCIPAL", "GRANTS", "AGE"]);
    expect(out.stdout).toContain("orders-workflow");
  });

  it("-o wide adds the identity type and the last heal, and for policies the mode and the binding", async () => {
    const b = await kubectl(kubeconfigPath, ["get", "identitybindings", "-n", ns, "-o", "wide"]);
    expect(b.stdout.split("\n")[0]!.split(/\s+/)).toEqual([
      "NAME",
      "READY",
      "REASON",
      "PRINCIPAL",
      "GRANTS",
      "AGE",
      "IDENTITY",
      "LAST-HEAL",
    ]);
    const p = await kubectl(kubeconfigPath, ["get", "apimjwtpolicies", "-n", ns, "-o", "wide"]);
    expect(p.stdout.split("\n")[0]!.split(/\s+/)).toEqual([
      "NAME",
      "READY",
      "TARGET",
      "AGE",
      "REASON",
      "MODE",
      "BINDING",
    ]);
    expect(p.stdout).toMatch(/orders-api-admits-orders-workflow\s+.*Fragment\s+orders-workflow/);
  });

  it("lists both kinds through the azureidentity category", async () => {
    const out = await kubectl(kubeconfigPath, ["get", "azureidentity", "-n", ns]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("logicappidentitybinding.identity.logicapp.dev/orders-workflow");
    expect(out.stdout).toContain("apimjwtpolicy.identity.logicapp.dev/orders-api-admits-orders-workflow");
  });

  it("explains spec.roleAssignments with field descriptions", async () => {
    const out = await kubectl(kubeconfigPath, ["explain", "logicappidentitybinding.spec.roleAssignments"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/Azure RBAC roles to grant/);
    expect(out.stdout).toMatch(/scope\s+<string> -required-/);
    expect(out.stdout).toMatch(/role\s+<string> -required-/);
    expect(out.stdout).toMatch(/Key Vault Secrets\s+User/);
  });

  it("rejects a malformed object through kubectl apply with the field named", async () => {
    const yaml = `apiVersion: ${GROUP}/${VERSION}
kind: LogicAppIdentityBinding
metadata: {name: bad, namespace: ${ns}}
spec:
  logicAppId: ${LOGIC_APP}
  identity: {type: UserAssigned}
`;
    const out = await kubectl(kubeconfigPath, ["apply", "-f", "-"], yaml);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/spec\.identity\.userAssignedIdentityId/);
    expect(out.stderr).toMatch(/required when type is UserAssigned/);
  });
});
