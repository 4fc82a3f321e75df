/**
 * An operator process for the leader-election and SIGTERM tests: a Manager with the test reconciler, run as a child
 * process so the test can SIGTERM or SIGKILL it. Configured through LAIO_* variables plus:
 * KUBECONFIG, TEST_DELAY_MS (hold each reconcile), and it prints "RECONCILE_START <key>" lines.
 */
import { parseConfig } from "../../src/runtime/config.ts";
import { Manager, loadKubeConfig } from "../../src/runtime/manager.ts";
import { BINDING, TestReconciler } from "./runtime-support.ts";

const { config } = parseConfig(process.argv.slice(2), process.env);
const manager = new Manager({ config, kubeConfig: loadKubeConfig(process.env.KUBECONFIG ?? "") });
manager.addController({
  name: "LogicAppIdentityBinding",
  resource: BINDING,
  reconciler: (s) =>
    new TestReconciler(s, {
      delayMs: Number(process.env.TEST_DELAY_MS ?? 0),
      onStart: (key) => console.log(`RECONCILE_START ${key}`),
    }),
});
manager.installSignalHandlers(() => {
  console.log("STOPPED");
  process.exit(0);
});
await manager.start();
console.log("STARTED");
