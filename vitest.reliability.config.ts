import { defineConfig } from "vitest/config";

// The reliability matrix (issue 16, docs/reliability.md): its own config, so `vitest run --project unit|cluster`
// never picks it up. It starts its own control plane (it restarts kube-apiserver and compacts etcd), so no
// globalSetup; one file, one worker, scenarios in sequence: timing-based bounds stay honest on 2 shared cores.
export default defineConfig({
  test: {
    name: "reliability",
    include: ["test/reliability/**/*.test.ts"],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    // The table is printed from afterAll; keep console output of passing runs.
    silent: false,
  },
});
