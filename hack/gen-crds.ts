/**
 * Writes crds/*.yaml and the Helm chart's copies from src/api/v1alpha1 (the single source of truth).
 * `--check` exits 1 when the committed files differ (used by the test suite).
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrdFiles } from "./crd-files.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
let stale = 0;
for (const [rel, content] of renderCrdFiles()) {
  const file = join(root, rel);
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    /* missing file counts as stale */
  }
  if (current === content) continue;
  stale++;
  if (check) console.error(`stale: ${rel} (run npm run gen:crds)`);
  else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    console.log(`wrote ${rel}`);
  }
}
if (check && stale > 0) process.exit(1);
