/**
 * What the Dockerfile does, minus Docker (no engine here): compile src/ with tsconfig.build.json and start the
 * compiled entry point the image runs (`dist/src/cli/main.js`), which must not need anything from emulator/,
 * test/ or hack/.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

describe("production build", () => {
  it("compiles to dist/ and the image's entry point answers --help", () => {
    // Inside the repository, so the compiled files resolve node_modules as they do in the image's /app.
    mkdirSync(join(root, ".tmp"), { recursive: true });
    const out = mkdtempSync(join(root, ".tmp", "dist-"));
    try {
      execFileSync(
        process.execPath,
        [
          join(root, "node_modules/typescript/bin/tsc"),
          "-p",
          join(root, "tsconfig.build.json"),
          "--outDir",
          out,
        ],
        {
          cwd: root,
          encoding: "utf8",
        },
      );
      const run = spawnSync(process.execPath, [join(out, "src/cli/main.js"), "run", "--help"], {
        cwd: root,
        encoding: "utf8",
      });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(run.stdout).toContain("--leader-elect");
      expect(run.stdout).toContain("--azure-credential");
      const bad = spawnSync(process.execPath, [join(out, "src/cli/main.js"), "run", "--concurrency=0"], {
        cwd: root,
        encoding: "utf8",
      });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/--concurrency: "0" is not an integer from 1 to 64/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
