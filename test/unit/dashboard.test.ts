/** Every metric the Grafana dashboard queries is one the operator's /metrics registry serves (and labels it uses exist). */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RuntimeMetrics } from "../../src/runtime/metrics.ts";

const dashboard = JSON.parse(
  readFileSync(
    new URL("../../charts/logicapp-identity-operator/dashboards/operator.json", import.meta.url),
    "utf8",
  ),
) as {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { query?: unknown }[] };
};

const exprs = [
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
  ...dashboard.templating.list.flatMap((v) => (typeof v.query === "string" ? [v.query] : [])),
];

describe("Grafana dashboard", () => {
  it("queries only metrics the operator registers, with their own label names", () => {
    // The metric objects, not their values: an unlabelled-yet metric still declares its label names.
    const metrics = new RuntimeMetrics().registry.getMetricsAsArray() as unknown as {
      name: string;
      labelNames?: string[];
    }[];
    const served = new Map(
      metrics.map((m) => [m.name, new Set(["le", "job", "instance", ...(m.labelNames ?? [])])]),
    );
    const used = new Set<string>();
    for (const e of exprs)
      for (const [, raw, labels] of e.matchAll(/\b(laio_[a-z_]+)(?:\{([^}]*)\})?/g)) {
        const name = raw!.replace(/_(bucket|sum|count)$/, "");
        used.add(name);
        expect(served.has(name), `${name} in ${e}`).toBe(true);
        for (const [, label] of (labels ?? "").matchAll(/([a-z_]+)\s*[=!~]/g))
          expect(served.get(name)!.has(label!), `label ${label} of ${name}`).toBe(true);
      }
    // The list: reconciles and errors, Azure calls, throttling, heals (and drift repairs).
    for (const m of [
      "laio_reconcile_total",
      "laio_external_calls_total",
      "laio_throttle_events_total",
      "laio_heals_total",
    ])
      expect(used).toContain(m);
  });
});
