/** The operator in-process, against the test control plane and an emulator, watching one namespace. */
import type { RunningEmulator } from "../../emulator/index.ts";
import { createCredential } from "../../src/azure/credential.ts";
import { createOperator } from "../../src/cli/operator.ts";
import { parseConfig } from "../../src/runtime/config.ts";
import type { Manager } from "../../src/runtime/manager.ts";

export interface TestOperatorOptions {
  kubeconfigPath: string;
  namespace: string;
  /** More namespaces to watch (e.g. a second tenant's). */
  alsoWatch?: string[];
  /**
   * The operator's ownership records and Logic App claims (ConfigMaps). Each suite passes its own fresh
   * namespace, so suites running at once never see each other's claims; default: the watched namespace.
   */
  recordsNamespace?: string;
  /** Default: enforce (the suites create an AzureAccessPolicy for their namespaces, see ./access-policy.ts). */
  tenancy?: "enforce" | "permissive";
  emulator: RunningEmulator;
  /** Changes made behind the operator's back are found by resync; short so tests do not wait minutes. */
  resync?: string;
  replicationPollMs?: number;
  /** Serve /metrics on a free loopback port (read it from manager.metricsPort). */
  metrics?: boolean;
  /**
   * Observe Azure through the inventory, refreshed this often (e.g. "1s"); off by default here, so the tests that
   * count per-object requests or inject faults into them keep observing per object.
   */
  inventoryInterval?: string;
  /** Per-request Azure timeout (default 30 s); the reliability matrix shortens it so `timeout` faults cost seconds. */
  requestTimeoutMs?: number;
}

export async function startTestOperator(o: TestOperatorOptions): Promise<Manager> {
  const { config } = parseConfig([
    `--kubeconfig=${o.kubeconfigPath}`,
    `--namespaces=${[o.namespace, ...(o.alsoWatch ?? [])].join(",")}`,
    `--records-namespace=${o.recordsNamespace ?? o.namespace}`,
    `--tenancy=${o.tenancy ?? "enforce"}`,
    "--leader-elect=false",
    `--metrics-addr=${o.metrics ? "127.0.0.1:0" : ""}`,
    "--health-addr=",
    `--log-level=${process.env.LAIO_TEST_LOG_LEVEL ?? "silent"}`,
    `--resync-interval=${o.resync ?? "1s"}`,
    "--shutdown-timeout=10s",
    ...(o.inventoryInterval
      ? ["--inventory=true", `--inventory-interval=${o.inventoryInterval}`]
      : ["--inventory=false"]),
  ]);
  const manager = createOperator({
    config,
    azure: {
      credential: createCredential("static"),
      armEndpoint: o.emulator.url,
      graphEndpoint: o.emulator.url,
      tlsCa: o.emulator.caPem,
      lroPollIntervalMs: 50,
      ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    },
    replicationPollMs: o.replicationPollMs ?? 300,
    ...(o.recordsNamespace !== undefined ? { recordsNamespace: o.recordsNamespace } : {}),
  });
  await manager.start();
  return manager;
}
