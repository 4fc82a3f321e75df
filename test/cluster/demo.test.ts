/**
 * The README's second set-up command (`npm start`) works: the demo brings up its own control plane, emulator and
 * operator, applies examples/seed-scenario.yaml, recreates the identity and shows the heal.
 */
import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("npm start (demo)", () => {
  it("runs the seed scenario end to end and heals a recreated identity", async () => {
    const script = new URL("../../hack/demo.ts", import.meta.url).pathname;
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [script, "--once"],
        { encoding: "utf8", timeout: 180_000, cwd: new URL("../..", import.meta.url).pathname },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
    });
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/orders-workflow\s+True\s+Ready\s+[0-9a-f-]{36}\s+2\/2/);
    // The readable prefix, then 16 hex of SHA-256(namespace/name/uid) (ADR 0014).
    expect(out.stdout).toMatch(
      /<include-fragment fragment-id="laio-team-orders-orders-api-admits-orders-workflow-[0-9a-f]{16}" \/>/,
    );
    expect(out.stdout).toContain("role assignments still pointing at the old principal: 0");
    expect(out.stdout).toMatch(/Healed\s+grants moved from/);
    expect(out.stdout).toContain("== done");
  }, 200_000);
});
