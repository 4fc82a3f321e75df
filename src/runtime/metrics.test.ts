import { describe, expect, it } from "vitest";
import { RuntimeMetrics } from "./metrics.ts";

describe("RuntimeMetrics", () => {
  it("exports the tenancy mode in force", async () => {
    const m = new RuntimeMetrics();
    m.setTenancyMode("permissive");
    const text = await m.text();
    expect(text).toContain('laio_tenancy_mode{mode="permissive"} 1');
    expect(text).toContain('laio_tenancy_mode{mode="enforce"} 0');
  });

  it("records external calls by service, operation and status code", async () => {
    const m = new RuntimeMetrics();
    m.externalCall({ service: "arm", operation: "roleAssignments.create", statusCode: 201, durationMs: 120 });
    m.externalCall({ service: "arm", operation: "roleAssignments.create", statusCode: 429 });
    m.throttled("arm");
    m.healed("LogicAppIdentityBinding", "roleAssignments");
    m.driftRepaired("ApimJwtPolicy", "policy");
    const text = await m.text();
    expect(text).toContain(
      'laio_external_calls_total{service="arm",operation="roleAssignments.create",status_code="201"} 1',
    );
    expect(text).toContain('status_code="429"} 1');
    expect(text).toContain('laio_throttle_events_total{service="arm"} 1');
    expect(text).toContain('laio_heals_total{kind="LogicAppIdentityBinding",facet="roleAssignments"} 1');
    expect(text).toContain('laio_drift_repairs_total{kind="ApimJwtPolicy",facet="policy"} 1');
  });

  it("keeps label sets bounded: unexpected values collapse into other", async () => {
    const m = new RuntimeMetrics();
    for (let i = 0; i < 200; i++) m.externalCall({ service: "arm", operation: `op-${i}`, statusCode: 200 });
    m.externalCall({ service: "arm", operation: "x", statusCode: 9999 });
    const text = await m.text();
    const series = text.split("\n").filter((l) => l.startsWith("laio_external_calls_total{"));
    expect(series.length).toBeLessThanOrEqual(130);
    expect(text).toContain('operation="other"');
    expect(text).toContain('status_code="other"');
  });
});
