/** `npm run emulator -- --port 8443 [--snapshot file] [--tls-dir dir] [--seed-scenario] [--throttling]` */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { startEmulator } from "./index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8443" },
    host: { type: "string", default: "127.0.0.1" },
    snapshot: { type: "string" },
    "tls-dir": { type: "string" },
    "seed-scenario": { type: "boolean", default: false },
    throttling: { type: "boolean", default: false },
    "replication-delay-ms": { type: "string" },
    "application-replication-delay-ms": { type: "string" },
  },
});

const snapshot = values.snapshot;
const emulator = await startEmulator({
  port: Number(values.port),
  host: values.host,
  tlsDir: values["tls-dir"],
  snapshotPath: snapshot && existsSync(snapshot) ? snapshot : undefined,
  config: {
    ...(values.throttling
      ? { throttling: { ...(await import("./throttle.ts")).DEFAULT_THROTTLE, enabled: true } }
      : {}),
    ...(values["replication-delay-ms"] ? { replicationDelayMs: Number(values["replication-delay-ms"]) } : {}),
    ...(values["application-replication-delay-ms"]
      ? { applicationReplicationDelayMs: Number(values["application-replication-delay-ms"]) }
      : {}),
  },
}).catch((e: unknown) => {
  // A bad path or a missing openssl is the user's to fix: one line saying what, not a stack trace.
  console.error(`emulator: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
if (values["seed-scenario"]) console.log(JSON.stringify(await emulator.control.seedScenario(), null, 2));

console.log(`Azure emulator listening on ${emulator.url}`);
console.log(`  ARM endpoint:   ${emulator.url}`);
console.log(`  Graph endpoint: ${emulator.url}/v1.0`);
console.log(`  Control API:    ${emulator.url}/_emulator/`);
console.log(`  CA certificate: ${emulator.caPath}  (export NODE_EXTRA_CA_CERTS=${emulator.caPath})`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  if (snapshot) {
    await writeFile(snapshot, JSON.stringify(emulator.runtime.state, null, 2));
    console.log(`Saved snapshot to ${snapshot}`);
  }
  await emulator.stop();
  console.log(`Stopped (${signal}).`);
  process.exit(0);
};
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
