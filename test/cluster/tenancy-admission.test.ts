/**
 * Tenancy at admission, on the real API server: the chart's ValidatingAdmissionPolicies (AzureAccessPolicy as the
 * parameter) run the shared case table (test/support/tenancy-cases.ts) through `kubectl create`, the reserved
 * annotations are refused to namespace users, and the aggregated roles give users what the docs say — checked with
 * SubjectAccessReviews and impersonation.
 */
import * as k8s from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { API_VERSION } from "../../src/api/v1alpha1/group.ts";
import { freshNamespace, kubeConfig, kubectl, waitUntil } from "../support/kube.ts";
import {
  LA_A,
  TEAM_B_LABELS,
  TENANCY_CASES,
  tenancyPolicies,
  type TeamNamespaces,
  type TenancyObject,
} from "../support/tenancy-cases.ts";

const chart = new URL("../../charts/logicapp-identity-operator", import.meta.url).pathname;
const FULLNAME = "laio-logicapp-identity-operator";
let kubeconfigPath: string;
let kc: k8s.KubeConfig;
let ns: TeamNamespaces;
let releaseNs: string;
let operatorUser: string;
type Doc = { kind: string; metadata: { name: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;
let installed: Doc[] = [];
const policies: string[] = [];

function manifest(obj: TenancyObject, name: string, namespace: string, annotations?: Record<string, string>) {
  return stringify({
    apiVersion: API_VERSION,
    kind: obj.kind,
    metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
    spec: obj.spec,
  });
}

async function create(yaml: string, as?: string): Promise<{ code: number; stderr: string }> {
  return kubectl(kubeconfigPath, ["create", "-f", "-", ...(as ? ["--as", as] : [])], yaml);
}

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  kc = kubeConfig(kubeconfigPath);
  const helm = execFileSync(new URL("../../hack/tools/build-helm.sh", import.meta.url).pathname, {
    encoding: "utf8",
  }).trim();
  releaseNs = await freshNamespace(kc, "laio-sys");
  operatorUser = `system:serviceaccount:${releaseNs}:${FULLNAME}`;
  const rendered = execFileSync(
    helm,
    [
      "template",
      "laio",
      chart,
      "--kube-version",
      "1.36.0",
      "-n",
      releaseNs,
      "--set",
      "azure.clientId=00000000-0000-0000-0000-000000000001",
    ],
    { encoding: "utf8" },
  );
  installed = parseAllDocuments(rendered)
    .map((d) => d.toJS() as Doc | null)
    .filter(
      (d): d is Doc =>
        !!d &&
        /^(ValidatingAdmissionPolicy|ValidatingAdmissionPolicyBinding|ClusterRole|ClusterRoleBinding)$/.test(
          d.kind,
        ),
    );
  const out = await kubectl(
    kubeconfigPath,
    ["apply", "--server-side", "-f", "-"],
    installed.map((d) => stringify(d)).join("---\n"),
  );
  expect(out.stderr).toBe("");
  ns = {
    a: await freshNamespace(kc, "team-a"),
    b: await freshNamespace(kc, "team-b"),
    none: await freshNamespace(kc, "team-z"),
  };
  await kc
    .makeApiClient(k8s.CoreV1Api)
    .patchNamespace(
      { name: ns.b, body: { metadata: { labels: TEAM_B_LABELS } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
}, 600_000);

afterAll(async () => {
  // The policies stay in force for other files on this API server unless removed; bindings first.
  const order = [
    "ValidatingAdmissionPolicyBinding",
    "ValidatingAdmissionPolicy",
    "ClusterRoleBinding",
    "ClusterRole",
  ];
  for (const kind of order)
    for (const d of installed.filter((x) => x.kind === kind))
      await kubectl(kubeconfigPath, [
        "delete",
        kind.toLowerCase(),
        d.metadata.name,
        "--ignore-not-found",
        "--wait=false",
      ]);
  for (const p of policies)
    await kubectl(kubeconfigPath, ["delete", "azureaccesspolicy", p, "--ignore-not-found"]);
  for (const n of Object.values(ns ?? {}))
    await kubectl(kubeconfigPath, ["delete", "namespace", n, "--wait=false"]);
});

describe("tenancy at admission", () => {
  it("with no AzureAccessPolicy at all, nothing is admitted (fail closed)", async () => {
    const obj: TenancyObject = {
      kind: "LogicAppIdentityBinding",
      spec: { logicAppId: LA_A, identity: { type: "SystemAssigned" } },
    };
    // The API server picks the new admission policies up asynchronously: wait for the first refusal.
    let last = { code: 0, stderr: "" };
    await waitUntil(
      "the tenancy admission policy to refuse without parameters",
      async () => {
        last = await kubectl(
          kubeconfigPath,
          ["create", "--dry-run=server", "-f", "-"],
          manifest(obj, "probe", ns.a),
        );
        // Until the parameter kind is synced the refusal says so; wait for the steady-state one.
        return last.code !== 0 && !last.stderr.includes("not yet synced");
      },
      60_000,
    );
    expect(last.stderr).toMatch(
      /ValidatingAdmissionPolicy '.*-tenancy-bindings'.*denied request.*(no params found|not found)/is,
    );
  });

  it("admits the policies and sees them as parameters", async () => {
    for (const p of tenancyPolicies(ns)) {
      const out = await kubectl(kubeconfigPath, ["apply", "-f", "-"], stringify(p));
      expect(out.stderr).toBe("");
      policies.push(p.metadata.name);
    }
    const ok: TenancyObject = {
      kind: "LogicAppIdentityBinding",
      spec: { logicAppId: LA_A, identity: { type: "SystemAssigned" } },
    };
    await waitUntil(
      "the policies to be used as parameters",
      async () => {
        const out = await kubectl(
          kubeconfigPath,
          ["create", "--dry-run=server", "-f", "-"],
          manifest(ok, "probe", ns.a),
        );
        return out.code === 0;
      },
      60_000,
    );
    const got = await kubectl(kubeconfigPath, ["get", "azureaccesspolicies", "-o", "wide"]);
    expect(got.stdout).toMatch(/NAMESPACES\s+MAX-SCOPE\s+AGE\s+SELECTED\s+SELECTOR/);
    expect(got.stdout).toContain(`team-a-${ns.a}`);
  });

  it.each(TENANCY_CASES.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, i) => {
    const out = await create(manifest(c.object, `case-${i}`, ns[c.team]));
    if (c.admission === true) {
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
    } else {
      expect(out.code).not.toBe(0);
      expect(out.stderr).toContain(c.admission);
      if (c.admission !== "should match")
        expect(out.stderr).toContain(
          `AzureAccessPolicy team-${c.team}-${ns[c.team]} selects namespace ${ns[c.team]}`,
        );
    }
  });

  it("namespace users may not set, change or remove annotations under identity.logicapp.dev/; the operator may", async () => {
    const alice = "alice@example.com";
    await kubectl(kubeconfigPath, [
      "create",
      "rolebinding",
      "alice-edit",
      `--clusterrole=${FULLNAME}-edit`,
      `--user=${alice}`,
      "-n",
      ns.a,
    ]);
    const obj: TenancyObject = {
      kind: "LogicAppIdentityBinding",
      spec: { logicAppId: LA_A, identity: { type: "SystemAssigned" } },
    };
    let out = await create(manifest(obj, "ann-1", ns.a, { "identity.logicapp.dev/owner": "x" }), alice);
    expect(out.stderr).toContain("annotations under identity.logicapp.dev/ are written by the operator only");
    out = await create(manifest(obj, "ann-1", ns.a, { "example.com/note": "fine" }), alice);
    expect(out.stderr).toBe("");
    // The operator's service account (impersonated, with the chart's ClusterRole) records ownership.
    const patch = (value: string | null, as: string) =>
      kubectl(kubeconfigPath, [
        "patch",
        "logicappidentitybinding",
        "ann-1",
        "-n",
        ns.a,
        "--type=merge",
        "-p",
        JSON.stringify({ metadata: { annotations: { "identity.logicapp.dev/owner": value } } }),
        "--as",
        as,
      ]);
    out = await patch("uid-1", operatorUser);
    expect(out.stderr).toBe("");
    out = await patch("uid-2", alice);
    expect(out.stderr).toContain("written by the operator only");
    out = await patch(null, alice);
    expect(out.stderr).toContain("written by the operator only");
    out = await kubectl(kubeconfigPath, [
      "label",
      "logicappidentitybinding",
      "ann-1",
      "-n",
      ns.a,
      "example.com/x=y",
      "--as",
      alice,
    ]);
    expect(out.stderr).toBe("");
    const got = await kubectl(kubeconfigPath, [
      "get",
      "logicappidentitybinding",
      "ann-1",
      "-n",
      ns.a,
      "-o",
      "jsonpath={.metadata.annotations}",
    ]);
    expect(JSON.parse(got.stdout)).toMatchObject({
      "identity.logicapp.dev/owner": "uid-1",
      "example.com/note": "fine",
    });
  });

  it("the operator can remove its finalizer from an object its namespace is no longer allowed", async () => {
    const obj: TenancyObject = {
      kind: "LogicAppIdentityBinding",
      spec: { logicAppId: LA_A, identity: { type: "SystemAssigned" } },
    };
    const name = "orphaned";
    await create(manifest(obj, name, ns.none));
    const fin = (v: string[]) =>
      kubectl(kubeconfigPath, [
        "patch",
        "logicappidentitybinding",
        name,
        "-n",
        ns.none,
        "--type=merge",
        "-p",
        JSON.stringify({ metadata: { finalizers: v } }),
        "--as",
        operatorUser,
      ]);
    expect((await fin(["identity.logicapp.dev/cleanup"])).stderr).toBe("");
    await kubectl(kubeconfigPath, ["delete", "logicappidentitybinding", name, "-n", ns.none, "--wait=false"]);
    expect((await fin([])).stderr).toBe("");
  });
});

describe("the AzureAccessPolicy kind", () => {
  it("refuses non-canonical ARM IDs and a policy that selects nothing, and documents itself for kubectl explain", async () => {
    const base = { apiVersion: API_VERSION, kind: "AzureAccessPolicy", metadata: { name: `bad-${ns.a}` } };
    let out = await kubectl(
      kubeconfigPath,
      ["create", "--dry-run=server", "-f", "-"],
      stringify({ ...base, spec: { namespaces: { names: [ns.a] }, scopes: [`${LA_A}/../..`] } }),
    );
    expect(out.stderr).toMatch(/spec.scopes\[0\].*should match/);
    out = await kubectl(
      kubeconfigPath,
      ["create", "--dry-run=server", "-f", "-"],
      stringify({ ...base, spec: { namespaces: {} } }),
    );
    expect(out.stderr).toContain("namespaces needs names or a selector");
    out = await kubectl(
      kubeconfigPath,
      ["create", "--dry-run=server", "-f", "-"],
      stringify({ ...base, spec: { namespaces: { names: [ns.a] }, privilegedRoles: ["Owner"] } }),
    );
    expect(out.stderr).toMatch(/privilegedRoles\[0\].*should match/);
    out = await kubectl(kubeconfigPath, [
      "apply",
      "--dry-run=server",
      "-f",
      new URL("../../examples/access-policy-team-orders.yaml", import.meta.url).pathname,
    ]);
    expect(out.stderr).toBe("");
    out = await kubectl(kubeconfigPath, ["explain", "azureaccesspolicy.spec.privilegedRoles"]);
    expect(out.stdout).toContain("by exact role definition GUID only");
    const got = await kubectl(kubeconfigPath, [
      "get",
      "azureaccesspolicy",
      `team-b-${ns.b}`,
      "-o",
      "jsonpath={.spec.maxScopeBreadth} {.spec.apimServices[0].targets}",
    ]);
    expect(got.stdout).toBe('subscription ["Api","Global"]');
    const defaulted = await kubectl(kubeconfigPath, [
      "get",
      "azureaccesspolicy",
      `team-a-${ns.a}`,
      "-o",
      "jsonpath={.spec.maxScopeBreadth} {.spec.apimServices[0].targets}",
    ]);
    expect(defaulted.stdout).toBe('resourceGroup ["Api","Product","Operation"]');
  });
});

describe("Kubernetes roles for namespace users and the operator", () => {
  async function can(
    user: string,
    namespace: string | undefined,
    resource: string,
    verb: string,
    subresource?: string,
  ) {
    const r = await kc.makeApiClient(k8s.AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user,
          ...(user.startsWith("system:serviceaccount:")
            ? { groups: ["system:serviceaccounts", "system:authenticated"] }
            : { groups: ["system:authenticated"] }),
          resourceAttributes: {
            group: resource === "namespaces" ? "" : "identity.logicapp.dev",
            resource,
            verb,
            namespace,
            subresource,
          },
        },
      },
    });
    return r.status?.allowed === true;
  }

  it("edit lets a user manage the two kinds in their namespace, not their status and not the policy kind", async () => {
    const u = "erin@example.com";
    await kubectl(kubeconfigPath, [
      "create",
      "rolebinding",
      "erin-edit",
      `--clusterrole=${FULLNAME}-edit`,
      `--user=${u}`,
      "-n",
      ns.b,
    ]);
    await waitUntil("RBAC to see the binding", () => can(u, ns.b, "logicappidentitybindings", "create"));
    for (const res of ["logicappidentitybindings", "apimjwtpolicies"])
      for (const verb of ["get", "list", "watch", "create", "update", "patch", "delete"])
        expect(await can(u, ns.b, res, verb)).toBe(true);
    expect(await can(u, ns.b, "logicappidentitybindings", "update", "status")).toBe(false);
    expect(await can(u, ns.b, "apimjwtpolicies", "patch", "status")).toBe(false);
    expect(await can(u, undefined, "azureaccesspolicies", "create")).toBe(false);
    expect(await can(u, undefined, "azureaccesspolicies", "update")).toBe(false);
    expect(await can(u, ns.a, "logicappidentitybindings", "create")).toBe(false);
  });

  it("view lets a user read the two kinds only", async () => {
    const u = "victor@example.com";
    await kubectl(kubeconfigPath, [
      "create",
      "rolebinding",
      "victor-view",
      `--clusterrole=${FULLNAME}-view`,
      `--user=${u}`,
      "-n",
      ns.b,
    ]);
    await waitUntil("RBAC to see the binding", () => can(u, ns.b, "apimjwtpolicies", "list"));
    expect(await can(u, ns.b, "logicappidentitybindings", "get")).toBe(true);
    expect(await can(u, ns.b, "logicappidentitybindings", "create")).toBe(false);
    expect(await can(u, ns.b, "logicappidentitybindings", "get", "status")).toBe(false);
    expect(await can(u, undefined, "azureaccesspolicies", "list")).toBe(false);
  });

  it("the roles aggregate into edit, admin and view (labels read by the aggregation controller)", () => {
    const labels = (n: string) =>
      installed.find((d) => d.kind === "ClusterRole" && d.metadata.name === n)?.metadata.labels ?? {};
    expect(labels(`${FULLNAME}-edit`)).toMatchObject({
      "rbac.authorization.k8s.io/aggregate-to-edit": "true",
      "rbac.authorization.k8s.io/aggregate-to-admin": "true",
    });
    expect(labels(`${FULLNAME}-view`)).toMatchObject({
      "rbac.authorization.k8s.io/aggregate-to-view": "true",
    });
  });

  it("the operator reads policies and namespaces, and cannot write policies", async () => {
    expect(await can(operatorUser, undefined, "azureaccesspolicies", "watch")).toBe(true);
    expect(await can(operatorUser, undefined, "azureaccesspolicies", "list")).toBe(true);
    expect(await can(operatorUser, undefined, "namespaces", "watch")).toBe(true);
    expect(await can(operatorUser, undefined, "azureaccesspolicies", "update")).toBe(false);
    expect(await can(operatorUser, undefined, "azureaccesspolicies", "create")).toBe(false);
  });
});
