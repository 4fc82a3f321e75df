/** In-process entry point: `startEmulator()` for tests, demos and benchmarks. */
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { EmulatorControl } from "./client.ts";
import { DEFAULT_CONFIG, Runtime, type EmulatorConfig } from "./runtime.ts";
import { createEmulatorServer } from "./server.ts";
import { parseSnapshot } from "./state.ts";
import { createTlsMaterial } from "./tls.ts";

export { EmulatorControl, EmulatorControlError } from "./client.ts";
export type * from "./client.ts";
export { DEFAULT_GRAPH_CALLER_ID } from "./runtime.ts";

export interface EmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Reuse (or create) the CA and leaf here instead of a fresh temp dir. */
  tlsDir?: string;
  /** JSON snapshot to load at start. */
  snapshotPath?: string;
  config?: Partial<EmulatorConfig>;
}

export interface RunningEmulator {
  /** `https://127.0.0.1:<port>`: use as the SDK clients' `endpoint` and as the Graph base (`${url}/v1.0`). */
  url: string;
  caPem: string;
  caPath: string;
  control: EmulatorControl;
  /** The in-process runtime, for tests that want to reach in (prefer `control`). */
  runtime: Runtime;
  stop(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const tls = await createTlsMaterial(options.tlsDir);
  const state = options.snapshotPath
    ? parseSnapshot(await readFile(options.snapshotPath, "utf8"))
    : undefined;
  const runtime = new Runtime({ ...DEFAULT_CONFIG, ...options.config }, state);
  const { server, releaseHung } = createEmulatorServer(runtime, tls);
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    url,
    caPem: tls.caPem,
    caPath: tls.caPath,
    control: new EmulatorControl(url, tls.caPem),
    runtime,
    stop: async () => {
      releaseHung();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
