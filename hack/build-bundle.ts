/**
 * `npm run build:bundle`: the operator as the image runs it — one minified ES module (`dist/bundle/main.js`, plus a
 * lazily loaded chunk for what only `@azure/identity`'s interactive credentials import) with every dependency
 * inside, so the image needs no node_modules.
 *
 * Why a bundle, measured (docs/benchmarks.md, "Whole-process RSS"): loading `dist/src/cli/main.js` leaves 54 MB of
 * V8 heap in use after GC, the bundle 20 MB. Node keeps every loaded module's source for lazy compilation, and
 * `@kubernetes/client-node`'s index loads its whole generated API (every model and API class) although the
 * operator uses only `KubeConfig` and `Watch`; the @azure ARM SDKs are mostly mappers the operator never calls.
 * Tree-shaking drops what nothing reaches, minifying shrinks the source V8 keeps.
 *
 * ASCII only: Node hands V8 a module's source as a two-byte string as soon as one character is not ASCII (measured:
 * the 4.57 MB bundle was a 9.14 MB string in a heap snapshot of the running operator). `charset: "ascii"` escapes
 * such characters in code; the license comments the bundler keeps (`@license`, `/*!`) are escaped here, as text.
 *
 * `node hack/build-bundle.ts [outDir]` (default dist/bundle; the build test bundles into a directory of its own).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "rolldown";

const root = new URL("..", import.meta.url).pathname;
const outDir = process.argv[2] ?? "dist/bundle";

const result = await build({
  cwd: root,
  input: "src/cli/main.ts",
  platform: "node",
  // A warning here (an import the bundler could not resolve) would be a module missing at run time in the image.
  onLog(level, log) {
    if (level === "warn" || level === "info") throw new Error(`bundle: ${log.message}`);
  },
  output: {
    dir: outDir,
    format: "esm",
    minify: true,
    charset: "ascii",
    // A separate source map (not loaded unless --enable-source-maps is passed) keeps stack traces readable.
    sourcemap: true,
    entryFileNames: "[name].js",
    chunkFileNames: "[name]-[hash].js",
  },
});

const dir = resolve(root, outDir);
for (const file of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
  const path = join(dir, file);
  const text = readFileSync(path, "utf8");
  // Only comments can still hold such characters; in a comment "\u00e4" is as readable as the letter. Per UTF-16
  // unit, four hex digits: the one escape that means the same in strings, templates and regular expressions.
  const ascii = text.replace(/[^\t-~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (ascii !== text) writeFileSync(path, ascii);
}

/**
 * The image ships no node_modules, so no package's LICENSE file either: their texts go beside the bundle, one per
 * package whose code is in it (what the bundler reports it included).
 */
const packages = new Map<string, string>();
for (const chunk of result.output)
  if (chunk.type === "chunk")
    for (const id of chunk.moduleIds) {
      const at = id.lastIndexOf("/node_modules/");
      if (at < 0) continue;
      const rest = id.slice(at + "/node_modules/".length).split("/");
      const name = rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
      packages.set(name, join(id.slice(0, at), "node_modules", name));
    }
const notices: string[] = [];
for (const [name, pkgDir] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
    version?: string;
    license?: string;
  };
  const file = readdirSync(pkgDir).find((f) => /^(licen[cs]e|copying|notice)/i.test(f));
  const text = file && existsSync(join(pkgDir, file)) ? readFileSync(join(pkgDir, file), "utf8").trim() : "";
  notices.push(
    `${name}@${pkg.version ?? "?"} (${pkg.license ?? "see text"})\n\n${text || "(no license file in the package)"}`,
  );
}
writeFileSync(join(dir, "THIRD-PARTY-LICENSES.txt"), `${notices.join(`\n\n${"-".repeat(79)}\n\n`)}\n`);
