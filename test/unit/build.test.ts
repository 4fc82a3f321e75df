/**
 * What the Dockerfile does, minus Docker (no engine here): compile src/ with tsconfig.build.json, bundle it
 * (`hack/build-bundle.ts`) and start the bundle the image runs from a directory with no node_modules, as the
 * image has none: it must not need anything from node_modules, emulator/, test/ or hack/.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { IMAGE_ENTRY, IMAGE_ENV } from "../../hack/image.ts";

const root = new URL("../..", import.meta.url).pathname;

describe("production build", () => {
  it("compiles to dist/ (npm run build, the .js beside the bundle) and its entry point answers --help", () => {
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

  it("bundles what the image runs, which starts with no node_modules and the image's environment", () => {
    // Outside the repository: nothing above it has a node_modules the bundle could fall back on.
    const app = mkdtempSync(join(tmpdir(), "laio-image-"));
    try {
      execFileSync(process.execPath, [join(root, "hack/build-bundle.ts"), join(app, "dist/bundle")], {
        cwd: root,
        encoding: "utf8",
      });
      const env = { PATH: process.env.PATH ?? "", ...IMAGE_ENV };
      const run = spawnSync(process.execPath, [IMAGE_ENTRY, "run", "--help"], {
        cwd: app,
        encoding: "utf8",
        env,
      });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(run.stdout).toContain("--leader-elect");
      expect(run.stdout).toContain("--azure-credential");
      const bad = spawnSync(process.execPath, [IMAGE_ENTRY, "run", "--concurrency=0"], {
        cwd: app,
        encoding: "utf8",
        env,
      });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/--concurrency: "0" is not an integer from 1 to 64/);
      // The main chunk plus what only @azure/identity's interactive credentials load lazily, and their maps.
      expect(
        readdirSync(join(app, "dist/bundle")).filter((f) => f.endsWith(".js")).length,
      ).toBeLessThanOrEqual(3);
      // No node_modules in the image, so the licenses of what the bundle contains travel beside it.
      const notices = readFileSync(join(app, "dist/bundle/THIRD-PARTY-LICENSES.txt"), "utf8");
      expect(notices).toMatch(/^@kubernetes\/client-node@\S+ \(Apache-2\.0\)$/m);
      expect(notices).toContain("Apache License");
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }, 120_000);

  it("the Dockerfile runs the bundle with the environment bench/rss.ts measures with", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    const final = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    expect(final).toContain(`ENTRYPOINT ["/nodejs/bin/node", "${IMAGE_ENTRY}"]`);
    const envLines = [...final.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(envLines)).toEqual(IMAGE_ENV);
    expect(final).not.toMatch(/node_modules/);
  });
});
