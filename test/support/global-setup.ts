/**
 * Starts one real control plane (etcd + kube-apiserver built from Go modules) for the whole run, installs the
 * CRDs and hands the kubeconfig to the suites. Each suite makes its own namespaces.
 */
import type { TestProject } from "vitest/node";
import { startControlPlane, type ControlPlane } from "../../hack/control-plane/control-plane.ts";
import { installCrds } from "./kube.ts";

let cp: ControlPlane | undefined;

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    controlPlaneDir: string;
  }
}

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  cp = await startControlPlane({
    // Short watch lifetimes make the server end watches often, exercising the informers' reconnect path.
    apiServerArgs: ["--min-request-timeout=30"],
  });
  await installCrds(cp.kubeconfig);
  process.env.KUBECONFIG = cp.kubeconfig;
  project.provide("kubeconfig", cp.kubeconfig);
  project.provide("controlPlaneDir", cp.dir);
  console.log(`control plane up in ${Date.now() - started} ms at ${cp.server} (${cp.dir})`);
}

export async function teardown(): Promise<void> {
  await cp?.stop();
}
