/**
 * Issue 11 in decide: whose fragment it is decides every write (ADR 0014), the record is written ahead of Azure and
 * only the operator's record (never status) names what to clean, legacy fragments migrate without a window.
 */
import { describe, expect, it } from "vitest";
import type { JwtPolicySpec } from "../../api/v1alpha1/jwt-policy.ts";
import {
  decide as decidePure,
  fragmentDescription,
  recordTarget,
  type Action,
  type Desired,
  type Observed,
  type ObservedFragment,
} from "./decide.ts";
import { fingerprint } from "./kind.ts";
import { renderFragment } from "./render.ts";
import { findIncludeFragment, insertIncludeFragment, MAX_POLICY_CHARS } from "./xml.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SVC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";
const UID = "uid-now";
const FID = "laio-team-a-orders-aaaaaaaaaaaaaaaa";
const LEGACY = "laio-team-a-orders";
const OWNER = `managed-by=logicapp-identity-operator; owner=team-a/orders; uid=${UID}`;
const FOREIGN =
  '<policies>\n  <inbound>\n    <base />\n    <rate-limit calls="5" renewal-period="60" />\n  </inbound>\n</policies>';
const spec: JwtPolicySpec = {
  apimServiceId: SVC,
  target: { apiId: "orders" },
  audiences: ["api://orders"],
  tenantId: TENANT,
};
const RULE = renderFragment({ tenantId: TENANT, audiences: ["api://orders"], requiredRoles: [] });
const HERE = recordTarget(SVC, { apiId: "orders" });

const desired = (over: Partial<Desired> = {}): Desired => ({
  namespace: "team-a",
  name: "orders",
  uid: UID,
  generation: 1,
  spec,
  fragmentId: FID,
  ownerMarker: OWNER,
  legacyFragmentId: LEGACY,
  ...over,
});
const fragment = (
  fragmentId: string,
  owner: ObservedFragment["owner"],
  description: string,
  xml = RULE,
  etag = `T-${fragmentId}`,
): ObservedFragment => ({ fragmentId, xml, etag, description, ...(owner ? { owner } : {}) });
const ours = () => fragment(FID, { namespace: "team-a", name: "orders", uid: UID }, OWNER);
const decide = (d: Desired, o: Observed) => decidePure(d, o, { hash: fingerprint });
const record = (fragments: string[], targets: string[], uid = UID) => ({
  data: { uid, fragments: fragments.map((fragmentId) => ({ serviceId: SVC, fragmentId })), targets },
  resourceVersion: "7",
});
const stalledReason = (d: ReturnType<typeof decide>) =>
  d.conditions.find((c) => c.type === "Stalled" && c.status === "True")?.reason;
const types = (a: Action[]) => a.map((x) => x.type);

describe("decide: fragment ownership", () => {
  it("a fragment under our ID that names another object (or none) stalls FragmentOwnedByOther, naming it; no write at all", () => {
    for (const [owner, description, named] of [
      [{ namespace: "team", name: "a-orders", uid: "u9" }, "managed-by=…", "team/a-orders (uid u9)"],
      [undefined, "made by hand", "no owner marker"],
      [{ namespace: "team-a", name: "orders", uid: "older" }, "older", "team-a/orders (uid older)"],
    ] as const) {
      const d = decide(desired(), {
        target: { exists: true },
        policy: { xml: FOREIGN, etag: "E1" },
        fragment: fragment(FID, owner, description),
      });
      expect(d.actions).toEqual([]);
      expect(d.stalled).toBe(true);
      expect(stalledReason(d)).toBe("FragmentOwnedByOther");
      expect(d.conditions.find((c) => c.type === "Stalled")!.message).toContain(named);
    }
  });

  it("our fragment is rewritten with the etag just read; an absent one is created without If-Match (create-only)", () => {
    const drifted = { ...ours(), xml: RULE.replace("api://orders", "api://other") };
    const d = decide(desired(), {
      target: { exists: true },
      policy: { xml: insertIncludeFragment(FOREIGN, FID), etag: "E1" },
      fragment: drifted,
      record: record([FID], [HERE]),
    });
    expect(d.actions).toEqual([
      { type: "putFragment", fragmentId: FID, xml: RULE, description: OWNER, ifMatch: `T-${FID}` },
    ]);
    const fresh = decide(desired(), { target: { exists: true }, policy: { xml: FOREIGN, etag: "E1" } });
    expect(fresh.actions.find((a) => a.type === "putFragment")).not.toHaveProperty("ifMatch");
    expect(fresh.actions.find((a) => a.type === "putPolicy")).toMatchObject({ ifMatch: "E1" });
  });

  it("the record is written ahead of Azure: first action, listing the fragment and the target before they exist", () => {
    const d = decide(desired(), { target: { exists: true }, policy: { xml: FOREIGN, etag: "E1" } });
    expect(types(d.actions)).toEqual(["putRecord", "putFragment", "putPolicy"]);
    expect(d.actions[0]).toEqual({
      type: "putRecord",
      record: { uid: UID, fragments: [{ serviceId: SVC, fragmentId: FID }], targets: [HERE] },
    });
  });

  it("steady state with the record in place writes nothing", () => {
    const d = decide(desired(), {
      target: { exists: true },
      policy: { xml: insertIncludeFragment(FOREIGN, FID), etag: "E1" },
      fragment: ours(),
      record: record([FID], [HERE]),
    });
    expect(d.actions).toEqual([]);
  });
});

describe("decide: migration from the legacy ID", () => {
  const legacyOurs = () => fragment(LEGACY, undefined, fragmentDescription("team-a", "orders"));
  const withLegacy = insertIncludeFragment(FOREIGN, LEGACY);

  it("adopts a legacy fragment that proves to be this object's: new fragment, include swapped in place, legacy deleted last", () => {
    const d = decide(desired(), {
      target: { exists: true },
      policy: { xml: withLegacy, etag: "E1" },
      predecessors: [legacyOurs()],
    });
    expect(types(d.actions)).toEqual(["putRecord", "putFragment", "putPolicy", "deleteFragment"]);
    const put = d.actions[2] as Extract<Action, { type: "putPolicy" }>;
    // Same position, only the ID differs; no moment where the document includes neither.
    expect(put.xml).toBe(withLegacy.replace(`fragment-id="${LEGACY}"`, `fragment-id="${FID}"`));
    expect(put.ifMatch).toBe("E1");
    expect(d.actions[3]).toEqual({
      type: "deleteFragment",
      fragmentId: LEGACY,
      ifMatch: `T-${LEGACY}`,
      migration: true,
    });
    // The record lists both until the legacy one is observed gone.
    expect(d.actions[0]).toMatchObject({
      record: {
        fragments: [{ fragmentId: LEGACY }, { fragmentId: FID }]
          .sort((a, b) => a.fragmentId.localeCompare(b.fragmentId))
          .map((f) => ({ serviceId: SVC, ...f })),
      },
    });
  });

  it("a legacy-ID fragment with another object's description (team/a-orders shares the legacy ID) is never touched", () => {
    const theirs = fragment(LEGACY, undefined, fragmentDescription("team", "a-orders"));
    const d = decide(desired(), {
      target: { exists: true },
      policy: { xml: withLegacy, etag: "E1" },
      predecessors: [theirs],
    });
    const put = d.actions.find((a) => a.type === "putPolicy") as Extract<Action, { type: "putPolicy" }>;
    expect(findIncludeFragment(put.xml, LEGACY)).toHaveLength(1);
    expect(findIncludeFragment(put.xml, FID)).toHaveLength(1);
    expect(d.actions.some((a) => a.type === "deleteFragment")).toBe(false);
  });

  it("a restored object (new UID) adopts the fragment its record lists under the old UID", () => {
    const OLD = "laio-team-a-orders-bbbbbbbbbbbbbbbb";
    const prev = fragment(OLD, { namespace: "team-a", name: "orders", uid: "uid-before" }, "…");
    const d = decide(desired(), {
      target: { exists: true },
      policy: { xml: insertIncludeFragment(FOREIGN, OLD), etag: "E1" },
      predecessors: [prev],
      record: record([OLD], [HERE], "uid-before"),
    });
    expect(types(d.actions)).toEqual(["putRecord", "putFragment", "putPolicy", "deleteFragment"]);
    expect(d.actions[0]).toMatchObject({ record: { uid: UID }, resourceVersion: "7" });
    expect(d.actions[3]).toMatchObject({ fragmentId: OLD, migration: true });
  });
});

describe("decide: deletion and previous targets", () => {
  it("deletion removes only our include and fragment (with its etag), then the record, then finalizes", () => {
    const other = '<include-fragment fragment-id="laio-team-a-orders-cccccccccccccccc" />';
    const xml = insertIncludeFragment(FOREIGN, FID).replace("<base />", `<base />\n    ${other}`);
    const d = decide(desired({ deleting: true }), {
      target: { exists: true },
      policy: { xml, etag: "E1" },
      fragment: ours(),
      record: record([FID], [HERE]),
    });
    expect(types(d.actions)).toEqual(["putPolicy", "deleteFragment"]);
    expect((d.actions[0] as { xml: string }).xml).toContain(other);
    expect(d.finalize).toBe(false);
    const after = decide(desired({ deleting: true }), {
      target: { exists: true },
      policy: { xml: FOREIGN.replace("<base />", `<base />\n    ${other}`), etag: "E2" },
      record: record([FID], [HERE]),
    });
    expect(after.actions).toEqual([{ type: "deleteRecord", resourceVersion: "7" }]);
    expect(after.finalize).toBe(false);
    expect(decide(desired({ deleting: true }), { target: { exists: true } }).finalize).toBe(true);
  });

  it("deletion with someone else's fragment under our ID leaves it and its include, and says so", () => {
    const theirs = fragment(FID, undefined, "hand-made");
    const xml = insertIncludeFragment(FOREIGN, FID);
    const d = decide(desired({ deleting: true }), {
      target: { exists: true },
      policy: { xml, etag: "E1" },
      fragment: theirs,
    });
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
    expect(d.findings[0]?.event).toMatchObject({ type: "Warning", reason: "FragmentOwnedByOther" });
  });

  it("PolicyTooLarge is its own Stalled reason, also when our include would push the document over the limit", () => {
    const filler = `<!-- ${"x".repeat(MAX_POLICY_CHARS - FOREIGN.length - 20)} -->`;
    const xml = FOREIGN.replace("<base />", `<base />${filler}`);
    expect(xml.length).toBeLessThanOrEqual(MAX_POLICY_CHARS);
    const d = decide(desired(), { target: { exists: true }, policy: { xml, etag: "E1" }, fragment: ours() });
    expect(d.actions).toEqual([]);
    expect(stalledReason(d)).toBe("PolicyTooLarge");
  });
});
