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
 * `node hack/build-bundle.ts [outDir]` (default dist/bundle; the build test bundles into a directory of its own).
 */
import { build } from "rolldown";

const root = new URL("..", import.meta.url).pathname;
const outDir = process.argv[2] ?? "dist/bundle";

await build({
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
    // A separate source map (not loaded unless --enable-source-maps is passed) keeps stack traces readable.
    sourcemap: true,
    entryFileNames: "[name].js",
    chunkFileNames: "[name]-[hash].js",
  },
});
