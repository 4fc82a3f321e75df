/**
 * `npm start`: the operator's main job with an embedded default world, on this machine.
 *   1. a real kube-apiserver + etcd (built from Go modules) with the CRDs installed;
 *   2. the Azure emulator, seeded with the seed scenario (Logic App, Key Vault scope, orders API, APIM);
 *   3. the operator (`run`) pointed at both;
 *   4. examples/seed-scenario.yaml applied, then the Logic App's identity recreated to show the heal.
 * Then it keeps running for kubectl until Ctrl-C (or exits with `-- --once`).
 */
import { execFileSync } from "node:child_process";
import { startEmulator } from "../emulator/index.ts";
import {
  findCondition,
  type ApimJwtPolicy,
  type LogicAppIdentityBinding,
} from "../src/api/v1alpha1/index.ts";
import { createCredential } from "../src/azure/credential.ts";
import { createOperator } from "../src/cli/operator.ts";
import { BINDING_RESOURCE } from "../src/controllers/binding/reconciler.ts";
import { JWT_POLICY_RESOURCE } from "../src/controllers/jwt-policy/reconciler.ts";
import { KubeClient } from "../src/runtime/client.ts";
import { parseConfig } from "../src/runtime/config.ts";
import { startControlPlane } from "./control-plane/control-plane.ts";
import { installCrds, kubeConfig, waitUntil } from "../test/support/kube.ts";

const once = process.argv.includes("--once");
const NS = "team-orders";
const SUBSCRIPTION = "00000000-0000-0000-0000-0000000000a1";
const say = (s: string) => console.log(`\n== ${s}`);

say("starting a local kube-apiserver + etcd (first run builds them from Go modules)");
const cp = await startControlPlane();
await installCrds(cp.kubeconfig);
const kubectl = (...args: string[]) =>
  execFileSync("kubectl", ["--kubeconfig", cp.kubeconfig, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });

say("starting the Azure emulator with the seed scenario");
const emu = await startEmulator();
const ids = await emu.control.seedScenario({ subscriptionId: SUBSCRIPTION });
console.log(`ARM + Graph at ${emu.url}; Logic App ${ids.logicAppId} (no identity yet)`);

say("starting the operator");
const { config } = parseConfig(
  [
    `--kubeconfig=${cp.kubeconfig}`,
    "--leader-elect=false",
    "--metrics-addr=127.0.0.1:0",
    "--health-addr=127.0.0.1:0",
    "--log-level=error",
    "--resync-interval=3s",
  ],
  {},
);
const manager = createOperator({
  config,
  azure: {
    credential: createCredential("static"),
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    lroPollIntervalMs: 100,
  },
});
await manager.start();
console.log(
  `metrics on http://127.0.0.1:${manager.metricsPort}/metrics, health on http://127.0.0.1:${manager.healthPort}/readyz`,
);

// Tenancy is enforced (the default): without a policy selecting team-orders, both objects would stall with
// NoAccessPolicy. The policy is what a cluster administrator writes once per team.
const accessPolicy = new URL("../examples/access-policy-team-orders.yaml", import.meta.url).pathname;
say("kubectl apply -f examples/access-policy-team-orders.yaml (a cluster administrator allows team-orders)");
console.log(kubectl("apply", "-f", accessPolicy).trim());
const example = new URL("../examples/seed-scenario.yaml", import.meta.url).pathname;
say("kubectl apply -f examples/seed-scenario.yaml");
kubectl("create", "namespace", NS);
console.log(kubectl("apply", "-f", example).trim());

const client = new KubeClient(kubeConfig(cp.kubeconfig));
const binding = () =>
  client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: NS, name: "orders-workflow" });
const policy = () =>
  client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, {
    namespace: NS,
    name: "orders-api-admits-orders-workflow",
  });
const isReady = (o: { status?: { conditions?: Parameters<typeof findCondition>[0] } }) =>
  findCondition(o.status?.conditions, "Ready")?.status === "True";

await waitUntil(
  "binding and policy Ready",
  async () => isReady(await binding()) && isReady(await policy()),
  60_000,
);
say("kubectl get azureidentity -n team-orders");
console.log(kubectl("get", "azureidentity", "-n", NS));
const first = (await binding()).status!.principalId!;
say("APIM: the orders API's policy (rawxml) and the operator's fragment");
const doc = await emu.control.getPolicyRaw({ serviceId: ids.apim.serviceId, apiId: ids.apim.apiId });
console.log(doc?.xml);
const fragments = await emu.control.listPolicyFragments(ids.apim.serviceId);
console.log(JSON.stringify(fragments, null, 1).slice(0, 2000));

say("someone disables and re-enables the Logic App's identity: Azure mints a new principal");
await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "None" });
await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
await waitUntil(
  "healed",
  async () => {
    const b = await binding();
    const p = await policy();
    return (
      isReady(b) && b.status?.principalId !== first && p.status?.callerPrincipalId === b.status?.principalId
    );
  },
  60_000,
);
const healed = await binding();
console.log(
  `principal ${first} -> ${healed.status!.principalId}; lastHeal: ${JSON.stringify(healed.status!.lastHeal)}`,
);
const left = await emu.control.listRoleAssignments({ principalId: first });
console.log(`role assignments still pointing at the old principal: ${left.length}`);
console.log(kubectl("get", "identitybindings", "-n", NS));
// Events are recorded asynchronously; give the Healed one a moment to land before listing them.
await waitUntil(
  "Healed event",
  () =>
    kubectl("get", "events.events.k8s.io", "-n", NS, "-o", "jsonpath={.items[*].reason}").includes("Healed"),
  15_000,
).catch(() => undefined);
console.log(
  kubectl("get", "events.events.k8s.io", "-n", NS, "-o", "custom-columns=REASON:.reason,NOTE:.note"),
);

const stop = async () => {
  await manager.stop();
  client.close();
  await emu.stop();
  await cp.stop();
};
if (once) {
  await stop();
  say("done");
  process.exit(0);
}
say("running; try:");
console.log(`  export KUBECONFIG=${cp.kubeconfig}`);
console.log(`  kubectl get azureidentity -A; kubectl describe identitybinding -n ${NS} orders-workflow`);
console.log(`  curl --cacert ${emu.caPath} ${emu.url}/_emulator/state`);
console.log("Ctrl-C stops everything.");
process.once("SIGINT", () => void stop().then(() => process.exit(0)));
process.once("SIGTERM", () => void stop().then(() => process.exit(0)));
