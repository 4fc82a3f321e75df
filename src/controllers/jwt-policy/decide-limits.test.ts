import { describe, expect, it } from "vitest";
import type { JwtPolicySpec } from "../../api/v1alpha1/jwt-policy.ts";
import { createHash } from "node:crypto";
import { decide as decidePure, type Desired, type Observed } from "./decide.ts";
import { findIncludeFragment, MAX_POLICY_CHARS } from "./xml.ts";

// Issue 11: a 184 KB document with unclosed `@(` took 11.8 s to decide (longer than the leader's renew deadline).

const SVC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";
const FID = "laio-team-a-orders-0123456789abcdef";
const spec: JwtPolicySpec = {
  apimServiceId: SVC,
  target: { apiId: "orders" },
  audiences: ["api://orders"],
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  requiredRoles: ["Orders.Write"],
};
const desired: Desired = {
  namespace: "team-a",
  name: "orders",
  uid: "u1",
  generation: 1,
  fragmentId: FID,
  ownerMarker: "managed-by=logicapp-identity-operator; owner=team-a/orders; uid=u1",
  legacyFragmentId: "laio-team-a-orders",
  spec,
};

const decide = (d: Desired, o: Observed) =>
  decidePure(d, o, { hash: (t) => createHash("sha256").update(t).digest("hex") });

function documentOf(unit: string, chars: number): string {
  const body = unit.repeat(Math.floor(chars / unit.length));
  return `<policies>\n    <inbound>\n        <base />\n${body}    </inbound>\n</policies>`;
}

describe("decide on large adversarial documents", () => {
  // Its wall time (11.8 s before the shared scanner; milliseconds now) is a benchmark: `npm run bench:xml`.
  it("a 184 KB document full of unclosed @( is decided and edited byte for byte", () => {
    const unit = '        <set-variable name="v" value="@(context.Request.Headers.GetValueOrDefault(" />\n';
    const xml = documentOf(unit, 184 * 1024);
    const d = decide(desired, { target: { exists: true }, policy: { xml, etag: "E1" } });
    const put = d.actions.find((a) => a.type === "putPolicy");
    expect(put?.type).toBe("putPolicy");
    if (put?.type !== "putPolicy") return;
    expect(put.ifMatch).toBe("E1");
    expect(findIncludeFragment(put.xml, FID)).toHaveLength(1);
    // Everything that was there is still there, unchanged, around the one inserted include.
    const include = `\n        <include-fragment fragment-id="${FID}" />`;
    expect(put.xml.replace(include, "")).toBe(xml);
  });

  it("a document larger than APIM allows stalls the object, says why, and nothing is written", () => {
    const xml = documentOf('        <set-variable name="v" value="x" />\n', MAX_POLICY_CHARS + 1);
    const d = decide(desired, { target: { exists: true }, policy: { xml, etag: "E1" } });
    expect(d.actions).toEqual([]);
    const stalled = d.conditions.find((c) => c.type === "Stalled");
    expect(stalled?.status).toBe("True");
    expect(stalled?.reason).toBe("PolicyTooLarge");
    expect(stalled?.message).toMatch(/more than the 256 KiB API Management allows/);
  });
});
