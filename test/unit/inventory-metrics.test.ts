/**
 * The inventory's and the request budget's metrics, as a scrape of /metrics shows them (the Grafana dashboard is
 * built from these names): a real AzureBudget drained until requests wait, and inventory readings.
 */
import { describe, expect, it } from "vitest";
import { AzureBudget } from "../../src/azure/inventory/budget.ts";
import { RuntimeMetrics } from "../../src/runtime/metrics.ts";

const SUB = "00000000-0000-0000-0000-0000000000aa";
const armUrl = `https://management.azure.com/subscriptions/${SUB}/providers/Microsoft.Logic/workflows`;

describe("inventory and budget metrics", () => {
  it("are registered under their names before anything is observed", async () => {
    const m = new RuntimeMetrics();
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "laio_azure_budget_tokens",
        "laio_azure_budget_waits_total",
        "laio_inventory_refresh_duration_seconds",
        "laio_inventory_age_seconds",
        "laio_inventory_objects",
        "laio_inventory_reads_total",
        "laio_inventory_changes_total",
        "laio_inventory_enqueues_total",
      ]),
    );
  });

  it("report budget tokens and waits per subscription and kind, read at scrape time", async () => {
    const t = 0;
    const clock = { now: () => t, setTimeout: () => ({ cancel() {} }) };
    const budget = new AzureBudget({ armReads: { capacity: 2, refillPerSecond: 1 } }, clock);
    const reads = budget.bucketFor("arm-logic", armUrl, "GET");
    await reads.take();
    await reads.take();
    void reads.take(); // waits: the bucket is empty and the clock does not move
    budget.bucketFor("graph", "https://graph.microsoft.com/v1.0/servicePrincipals", "POST");
    const m = new RuntimeMetrics();
    m.observeBudget(() => budget.snapshot());
    const text = await m.text();
    expect(text).toContain(`laio_azure_budget_tokens{scope="${SUB}",kind="read"} 0`);
    expect(text).toContain(`laio_azure_budget_waits_total{scope="${SUB}",kind="read"} 1`);
    expect(text).toMatch(/laio_azure_budget_tokens\{scope="graph",kind="graph_write"\} \d+/);
    // A counter fed from a monotonic source does not count the same waits twice across scrapes.
    expect(await m.text()).toContain(`laio_azure_budget_waits_total{scope="${SUB}",kind="read"} 1`);
  });

  it("report the inventory's size, age, hit ratio, refresh time, changes and enqueues", async () => {
    const m = new RuntimeMetrics();
    const stats = { hits: 7, misses: 2 };
    m.observeInventory({
      sizes: () => ({ logicApps: 1000, roleAssignments: 2000, apimPolicies: 3 }),
      freshness: () => [{ source: `subscription/${SUB}`, takenAt: Date.now() - 30_000 }],
      reads: () => ({ ...stats }),
    });
    m.inventoryRefreshed("subscription", 1500, true);
    m.inventoryChanged("logicApp");
    m.inventoryChanged("apim");
    m.inventoryEnqueued("ApimJwtPolicy", 2);
    let text = await m.text();
    expect(text).toContain('laio_inventory_objects{kind="logicApps"} 1000');
    expect(text).toContain('laio_inventory_objects{kind="apimPolicies"} 3');
    const age = Number(/laio_inventory_age_seconds\{source="subscription\/[^"]+"\} ([\d.]+)/.exec(text)?.[1]);
    expect(age).toBeGreaterThanOrEqual(30);
    expect(age).toBeLessThan(60);
    expect(text).toContain('laio_inventory_reads_total{result="hit"} 7');
    expect(text).toContain(
      'laio_inventory_refresh_duration_seconds_count{source="subscription",result="success"} 1',
    );
    expect(text).toContain('laio_inventory_changes_total{kind="apim"} 1');
    expect(text).toContain('laio_inventory_enqueues_total{kind="ApimJwtPolicy"} 2');
    stats.hits = 10;
    text = await m.text();
    expect(text).toContain('laio_inventory_reads_total{result="hit"} 10');
  });
});
