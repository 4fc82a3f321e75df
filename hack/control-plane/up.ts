/**
 * `npm run control-plane:up`: starts a local etcd + kube-apiserver, installs the CRDs, prints the kubeconfig and
 * keeps running until Ctrl-C. For local runs and the demo.
 */
import { startControlPlane } from "./control-plane.ts";
import { installCrds } from "../../test/support/kube.ts";

const started = Date.now();
const cp = await startControlPlane({ log: (l) => console.log(l) });
await installCrds(cp.kubeconfig);
console.log(`control plane ready in ${Date.now() - started} ms`);
console.log(`export KUBECONFIG=${cp.kubeconfig}`);
const stop = async () => {
  await cp.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
setInterval(() => {}, 1 << 30);
