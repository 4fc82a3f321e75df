/** Helpers for tests that talk to the real API server. */
import * as k8s from "@kubernetes/client-node";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { allCrds } from "../../src/api/v1alpha1/crds.ts";

const execFileP = promisify(execFile);

export function kubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/**
 * Installs the generated CRDs with kubectl (server-side apply). Not through client-node's typed
 * V1CustomResourceDefinition: its serializer maps `enum`, `default` and `x-kubernetes-validations` from
 * `_enum`/`_default`/`xKubernetesValidations` and silently drops them from a plain object.
 */
export async function installCrds(kubeconfigPath: string): Promise<void> {
  const crdDir = fileURLToPath(new URL("../../crds/", import.meta.url));
  await execFileP("kubectl", [
    "--kubeconfig",
    kubeconfigPath,
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    crdDir,
  ]);
  const kc = kubeConfig(kubeconfigPath);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of allCrds) {
    const name = (crd.metadata as { name: string }).name;
    await waitUntil(`CRD ${name} Established`, async () => {
      const c = await ext.readCustomResourceDefinition({ name });
      return !!c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True");
    });
  }
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

export async function freshNamespace(kc: k8s.KubeConfig, prefix = "t"): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Runs the installed kubectl against the test cluster. */
export async function kubectl(
  kubeconfigPath: string,
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      "kubectl",
      ["--kubeconfig", kubeconfigPath, ...args],
      { encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
      },
    );
    if (input !== undefined) {
      child.stdin?.end(input);
    }
  });
}

export { execFileP };
