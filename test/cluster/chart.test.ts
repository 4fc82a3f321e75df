/**
 * The Helm chart renders (helm built from Go modules) and the API server accepts every manifest it renders
 * (server-side dry run), in both RBAC modes. The Deployment's pod runs non-root with a read-only root filesystem.
 */
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/runtime/config.ts";
import { freshNamespace, kubeConfig, kubectl } from "../support/kube.ts";

const chart = new URL("../../charts/logicapp-identity-operator", import.meta.url).pathname;
let helm: string;
let kubeconfigPath: string;
let ns: string;

function render(args: string[]): string {
  return execFileSync(helm, ["template", "laio", chart, "--kube-version", "1.36.0", "-n", ns, ...args], {
    encoding: "utf8",
  });
}

beforeAll(async () => {
  helm = execFileSync(new URL("../../hack/tools/build-helm.sh", import.meta.url).pathname, {
    encoding: "utf8",
  }).trim();
  kubeconfigPath = inject("kubeconfig");
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "chart");
}, 600_000);

describe("Helm chart", () => {
  it("refuses to render without the workload identity client ID", () => {
    expect(() => render([])).toThrow(/azure.clientId is required/);
  });

  it.each([
    ["all namespaces (ClusterRole)", ["--set", "azure.clientId=00000000-0000-0000-0000-000000000001"]],
    [
      "listed namespaces (Roles)",
      [
        "--set",
        "azure.clientId=00000000-0000-0000-0000-000000000001",
        "--set",
        "operator.watchNamespaces={NS}",
      ],
    ],
  ])("renders manifests the API server accepts: %s", async (_name, args) => {
    const yaml = render(args.map((a) => a.replace("NS", ns)));
    const out = await kubectl(kubeconfigPath, ["apply", "--dry-run=server", "-n", ns, "-f", "-"], yaml);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/deployment.apps\/laio-logicapp-identity-operator created \(server dry run\)/);
  });

  it("tenancy: enforce ships the admission policies, permissive ships only the reserved-annotation one", () => {
    const vaps = (mode: string) => {
      const docs = parseAllDocuments(
        render([
          "--set",
          "azure.clientId=00000000-0000-0000-0000-000000000001",
          "--set",
          `tenancy.mode=${mode}`,
        ]),
      ).map((d) => d.toJS());
      const args: string[] = docs.find((d) => d?.kind === "Deployment").spec.template.spec.containers[0].args;
      expect(parseConfig(args.slice(1), {}).config.tenancy).toBe(mode);
      return docs
        .filter((d) => d?.kind === "ValidatingAdmissionPolicy")
        .map((d) => d.metadata.name as string);
    };
    expect(vaps("enforce").sort()).toEqual([
      "laio-logicapp-identity-operator-reserved-annotations",
      "laio-logicapp-identity-operator-tenancy-bindings",
      "laio-logicapp-identity-operator-tenancy-jwt-policies",
    ]);
    expect(vaps("permissive")).toEqual(["laio-logicapp-identity-operator-reserved-annotations"]);
  });

  it("passes the inventory settings through to the operator's flags", () => {
    const configOf = (set: string[]) => {
      const docs = parseAllDocuments(
        render(["--set", "azure.clientId=00000000-0000-0000-0000-000000000001", ...set]),
      ).map((d) => d.toJS());
      const args: string[] = docs.find((d) => d?.kind === "Deployment").spec.template.spec.containers[0].args;
      return parseConfig(args.slice(1), {}).config;
    };
    expect(
      configOf(["--set", "operator.inventory.interval=30s", "--set", "operator.inventory.resyncInterval=2h"]),
    ).toMatchObject({ inventory: true, inventoryIntervalMs: 30_000, inventoryResyncIntervalMs: 7_200_000 });
    expect(
      configOf(["--set", "operator.inventory.enabled=false", "--set", "operator.resyncInterval=5m"]),
    ).toMatchObject({ inventory: false, resyncIntervalMs: 300_000 });
  });

  it("runs the operator as non-root with a read-only root filesystem and workload identity", () => {
    const docs = parseAllDocuments(
      render(["--set", "azure.clientId=00000000-0000-0000-0000-000000000001"]),
    ).map((d) => d.toJS());
    const dep = docs.find((d) => d?.kind === "Deployment");
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(dep.spec.template.metadata.labels["azure.workload.identity/use"]).toBe("true");
    const sa = docs.find((d) => d?.kind === "ServiceAccount");
    expect(sa.metadata.annotations["azure.workload.identity/client-id"]).toBe(
      "00000000-0000-0000-0000-000000000001",
    );
    // The operator accepts the arguments the chart passes.
    expect(c.args[0]).toBe("run");
    const cfg = parseConfig(c.args.slice(1), {}).config;
    expect(cfg).toMatchObject({
      namespaces: [],
      leaderElect: true,
      leaseDurationMs: 15_000,
      metricsAddr: ":8080",
      inventory: true,
      inventoryIntervalMs: 45_000,
      inventoryResyncIntervalMs: 6 * 3_600_000,
    });
    // No secrets anywhere in the chart's output.
    expect(docs.some((d) => d?.kind === "Secret")).toBe(false);
    expect(cfg.recordsNamespace).toBe(ns);
    // The narrowest rights: no wildcard verbs or resources; the only delete is of the operator's own records
    // (ConfigMaps in its own namespace, never cluster-wide). The aggregated roles for namespace users (…-edit) are
    // the users' rights, not the operator's.
    const usersRole = (d: { metadata: { labels?: Record<string, string> } }) =>
      Object.keys(d.metadata.labels ?? {}).some((k) =>
        k.startsWith("rbac.authorization.k8s.io/aggregate-to-"),
      );
    for (const role of docs.filter(
      (d) => (d?.kind === "ClusterRole" || d?.kind === "Role") && !usersRole(d),
    )) {
      for (const rule of role.rules) {
        expect(rule.verbs).not.toContain("*");
        expect(rule.resources).not.toContain("*");
        if (rule.resources.includes("configmaps")) {
          expect(role.kind).toBe("Role");
          expect(role.metadata.namespace).toBe(ns);
          expect(rule.resources).toEqual(["configmaps"]);
        } else expect(rule.verbs).not.toContain("delete");
      }
    }
    const records = docs.find((d) => d?.kind === "Role" && d.metadata.name.endsWith("-records"));
    expect(records.rules[0].verbs).toEqual(["get", "list", "watch", "create", "update", "delete"]);
  });
});
