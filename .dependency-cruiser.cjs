/** Layering rules: the architecture, enforced. See docs/architecture.md. */
module.exports = {
  forbidden: [
    {
      name: "decide-is-pure",
      comment:
        "decide/render/xml modules are pure: no I/O, no SDKs, no runtime, not even through a helper (reachable), " +
        "so the hash and the deterministic names are passed in.",
      severity: "error",
      from: { path: "^src/controllers/.*/(decide[-a-z]*|render|xml|plan)\\.ts$" },
      to: {
        reachable: true,
        // An allow-list, so node built-ins (resolved as bare names like `crypto`) are caught however they are reached.
        path: ".+",
        pathNot:
          "^(src/(api|controllers)/|src/azure/(ports|errors)\\.ts$)|(^|/)node_modules/@sinclair/typebox/",
      },
    },
    {
      name: "controllers-use-ports-not-sdks",
      comment: "Controllers talk to Azure only through src/azure/ports.ts; adapters own the SDKs.",
      severity: "error",
      from: { path: "^src/controllers" },
      to: { path: "^(node_modules/@azure|src/azure/(arm|graph))" },
    },
    {
      name: "runtime-knows-no-azure",
      comment: "The controller runtime is generic Kubernetes machinery.",
      severity: "error",
      from: { path: "^src/runtime" },
      to: { path: "^(node_modules/@azure|src/azure|src/controllers)" },
    },
    {
      name: "api-is-leaf",
      comment: "API types depend on nothing but the schema library.",
      severity: "error",
      from: { path: "^src/api" },
      to: { path: "^src/(?!api)" },
    },
    {
      name: "product-does-not-import-emulator-or-tests",
      severity: "error",
      from: { path: "^src" },
      to: { path: "^(emulator|test)/" },
    },
    {
      name: "emulator-is-standalone",
      comment: "The emulator is Azure's stand-in; it must not share code with the operator it tests.",
      severity: "error",
      from: { path: "^emulator" },
      to: { path: "^src/" },
    },
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
      extensions: [".ts", ".js"],
    },
  },
};
