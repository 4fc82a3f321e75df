import { defineConfig } from "vitest/config";

// Two projects: `unit` (pure code, the emulator, no Kubernetes) and `cluster` (needs the real kube-apiserver that
// test/support/global-setup.ts starts once per run). `npm test` runs both; `npm run test:unit` only the first.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "src/**/*.test.ts",
            "emulator/**/*.test.ts",
            "test/unit/**/*.test.ts",
            "hack/**/*.test.ts",
          ],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "cluster",
          include: ["test/cluster/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One API server for the run; files run one at a time on 2 cores so timing-based waits stay honest.
          fileParallelism: false,
        },
      },
    ],
  },
});
