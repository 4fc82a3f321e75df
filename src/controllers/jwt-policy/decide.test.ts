import { describe, expect, it } from "vitest";
import type { JwtPolicySpec } from "../../api/v1alpha1/jwt-policy.ts";
import {
  decide as decidePure,
  type Action,
  type Decision,
  type Desired,
  type Observed,
  type ObservedFragment,
} from "./decide.ts";
import { fingerprint } from "./kind.ts";
import { renderFragment, renderValidateJwt } from "./render.ts";
import {
  findIncludeFragment,
  findInlineRule,
  GLOBAL_SKELETON,
  insertIncludeFragment,
  SKELETON,
  upsertInlineRule,
} from "./xml.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SVC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";
const UID = "0b8f2c1e-1111-4222-8333-944455556666";
const FID = "laio-team-a-orders-0123456789abcdef";
const OWNER = `managed-by=logicapp-identity-operator; owner=team-a/orders; uid=${UID}`;
const MARKER = "team-a/orders";
const FOREIGN =
  '<policies>\n  <inbound>\n    <base />\n    <rate-limit calls="5" renewal-period="60" />\n  </inbound>\n' +
  '  <outbound>\n    <set-header name="x" exists-action="override"><value>@(1 < 2 ? "a" : "b")</value></set-header>\n  </outbound>\n</policies>';

const spec: JwtPolicySpec = {
  apimServiceId: SVC,
  target: { apiId: "orders" },
  audiences: ["api://orders"],
  tenantId: TENANT,
  requiredRoles: ["Orders.Write"],
};
const ruleInput = { tenantId: TENANT, audiences: ["api://orders"], requiredRoles: ["Orders.Write"] };
const FP = fingerprint(renderValidateJwt(ruleInput));
/** The record writes are asserted in their own describe; the rest of these tables are about APIM. */
const decide = (d: Desired, o: Observed): Decision => {
  const r = decidePure(d, o, { hash: fingerprint });
  return { ...r, actions: r.actions.filter((a) => a.type !== "putRecord") };
};

function desired(over: Partial<Desired> = {}, specOver: Partial<JwtPolicySpec> = {}): Desired {
  return {
    namespace: "team-a",
    name: "orders",
    uid: UID,
    generation: 3,
    fragmentId: FID,
    ownerMarker: OWNER,
    legacyFragmentId: "laio-team-a-orders",
    spec: { ...spec, ...specOver },
    ...over,
  };
}
function observed(over: Partial<Observed> = {}): Observed {
  return { target: { exists: true }, ...over };
}
const doc = (xml: string, etag = "E1") => ({ xml, etag });
/** Our fragment as gather reports it: its marker names this object. */
const frag = (xml: string, etag = "F1"): ObservedFragment => ({
  xml,
  etag,
  fragmentId: FID,
  description: OWNER,
  owner: { namespace: "team-a", name: "orders", uid: UID },
});
function cond(d: Decision, type: string): [string, string] {
  const c = d.conditions.find((x) => x.type === type)!;
  return [c.status, c.reason];
}
const types = (a: Action[]) => a.map((x) => x.type);

/** Applies actions to an in-memory APIM, as the reconciler would, to assert the state of the world. */
function apply(world: { policy?: string; fragment?: string }, actions: Action[]): void {
  for (const a of actions) {
    if (a.type === "putFragment") world.fragment = a.xml;
    else if (a.type === "putPolicy") world.policy = a.xml;
    else if (a.type === "deletePolicy") delete world.policy;
    else if (a.type === "deleteFragment") {
      if (world.policy && findIncludeFragment(world.policy, a.fragmentId).length > 0)
        throw new Error("referenced");
      delete world.fragment;
    }
  }
}
function observe(world: { policy?: string; fragment?: string }, previous?: Decision): Observed {
  return observed({
    policy: world.policy === undefined ? undefined : doc(world.policy),
    fragment: world.fragment === undefined ? undefined : frag(world.fragment),
    previous: previous?.status,
  });
}

describe("decide: Fragment mode", () => {
  it("new target without a policy: fragment first, then the skeleton with the include, both create-only", () => {
    const d = decide(desired(), observed());
    expect(types(d.actions)).toEqual(["putFragment", "putPolicy"]);
    // No If-Match: APIM then only creates, so a fragment or document someone made meanwhile is never overwritten.
    expect(d.actions[0]).toEqual({
      type: "putFragment",
      fragmentId: FID,
      xml: renderFragment(ruleInput),
      description: OWNER,
    });
    expect(d.actions[1]).toEqual({
      type: "putPolicy",
      xml: insertIncludeFragment(SKELETON, FID),
    });
    expect(cond(d, "Reconciling")).toEqual(["True", "Applying"]);
    expect(cond(d, "Ready")).toEqual(["False", "Applying"]);
    expect(d.status).toMatchObject({ target: "api/orders", fragmentId: FID, observedGeneration: 3 });
  });

  it("global target uses the skeleton without <base />", () => {
    const d = decide(desired({}, { target: undefined }), observed());
    expect(d.actions[1]).toMatchObject({ xml: insertIncludeFragment(GLOBAL_SKELETON, FID) });
    expect(d.status.target).toBe("global");
  });

  it("existing foreign policy: include spliced in with the observed ETag, nothing else changes", () => {
    const d = decide(desired(), observed({ policy: doc(FOREIGN, "E7") }));
    expect(d.actions[1]).toEqual({
      type: "putPolicy",
      xml: insertIncludeFragment(FOREIGN, FID),
      ifMatch: "E7",
    });
  });

  it("steady state: no actions, Ready/Applied, fingerprint recorded", () => {
    const d = decide(
      desired(),
      observed({
        policy: doc(insertIncludeFragment(FOREIGN, FID)),
        fragment: frag(renderFragment(ruleInput)),
      }),
    );
    expect(d.actions).toEqual([]);
    expect(cond(d, "Ready")).toEqual(["True", "Applied"]);
    expect(cond(d, "Reconciling")).toEqual(["False", "Applied"]);
    expect(cond(d, "Stalled")).toEqual(["False", "Applied"]);
    expect(cond(d, "PolicyApplied")).toEqual(["True", "Applied"]);
    expect(d.status.appliedFingerprint).toBe(FP);
  });

  it("steady state survives APIM re-formatting the fragment and dropping its wrapper", () => {
    const reformatted = renderValidateJwt(ruleInput).replace(/\n\s*/g, "\r\n").replace(" />", "/>");
    const d = decide(
      desired(),
      observed({ policy: doc(insertIncludeFragment(FOREIGN, FID)), fragment: frag(reformatted) }),
    );
    expect(d.actions).toEqual([]);
  });

  it("fragment edited in the portal: only the fragment is restored (DriftRepaired)", () => {
    const edited = renderFragment(ruleInput).replace("Orders.Write", "Orders.Anything");
    const d = decide(
      desired(),
      observed({
        policy: doc(insertIncludeFragment(FOREIGN, FID)),
        fragment: frag(edited),
        previous: { appliedFingerprint: FP },
      }),
    );
    expect(types(d.actions)).toEqual(["putFragment"]);
    expect(cond(d, "Reconciling")).toEqual(["True", "DriftRepaired"]);
  });

  it("include removed in the portal: only the include is restored", () => {
    const d = decide(
      desired(),
      observed({
        policy: doc(FOREIGN, "E9"),
        fragment: frag(renderFragment(ruleInput)),
        previous: { appliedFingerprint: FP },
      }),
    );
    expect(d.actions).toEqual([
      { type: "putPolicy", xml: insertIncludeFragment(FOREIGN, FID), ifMatch: "E9" },
    ]);
    expect(cond(d, "PolicyApplied")).toEqual(["False", "DriftRepaired"]);
  });

  it("foreign edits are left alone (no write)", () => {
    const edited =
      insertIncludeFragment(FOREIGN, FID).replace('calls="5"', 'calls="50"') + "\n<!-- portal -->";
    const d = decide(desired(), observed({ policy: doc(edited), fragment: frag(renderFragment(ruleInput)) }));
    expect(d.actions).toEqual([]);
  });

  it("binding's principal changed: fragment re-rendered with the new oid (Updating)", () => {
    const bound = desired(
      {
        binding: {
          name: "b",
          ready: true,
          principalId: "new-p",
          tenantId: TENANT,
          audiences: ["api://orders"],
          roles: ["Orders.Write"],
        },
      },
      { bindingRef: { name: "b" }, audiences: undefined, requiredRoles: undefined, tenantId: undefined },
    );
    const oldInput = { ...ruleInput, callerPrincipalId: "old-p" };
    const d = decide(
      bound,
      observed({
        policy: doc(insertIncludeFragment(FOREIGN, FID)),
        fragment: frag(renderFragment(oldInput)),
        previous: {
          appliedFingerprint: fingerprint(renderValidateJwt(oldInput)),
          callerPrincipalId: "old-p",
        },
      }),
    );
    expect(types(d.actions)).toEqual(["putFragment"]);
    expect(d.actions[0]).toMatchObject({ xml: renderFragment({ ...ruleInput, callerPrincipalId: "new-p" }) });
    expect(cond(d, "Reconciling")).toEqual(["True", "Updating"]);
    expect(d.conditions[0]!.message).toContain("new-p");
  });

  it("converges in a simulated world and then stays quiet", () => {
    const world: { policy?: string; fragment?: string } = { policy: FOREIGN };
    let d = decide(desired(), observe(world));
    apply(world, d.actions);
    d = decide(desired(), observe(world, d));
    expect(d.actions).toEqual([]);
    expect(world.policy).toBe(insertIncludeFragment(FOREIGN, FID));
    // and deletion gives the original document back
    const del = desired({ deleting: true });
    d = decide(del, observe(world, d));
    expect(types(d.actions)).toEqual(["putPolicy", "deleteFragment"]);
    apply(world, d.actions);
    d = decide(del, observe(world, d));
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
    expect(world).toEqual({ policy: FOREIGN });
  });
});

describe("decide: waiting and stalled", () => {
  const bound = (binding: Desired["binding"]) =>
    desired(
      { binding },
      { bindingRef: { name: "orders-binding" }, audiences: undefined, tenantId: undefined },
    );

  it.each([
    ["binding missing", undefined, "BindingNotFound"],
    [
      "binding missing from the cache",
      { name: "orders-binding", ready: false, missing: true },
      "BindingNotFound",
    ],
    [
      "binding Stalled",
      { name: "orders-binding", ready: false, stalled: { reason: "IdentityConflict", message: "detach it" } },
      "BindingStalled",
    ],
  ])("%s → Stalled %s, no action", (_n, binding, reason) => {
    const d = decide(bound(binding), observed());
    expect(d.actions).toEqual([]);
    expect(cond(d, "Ready")).toEqual(["False", reason]);
    expect(cond(d, "Stalled")).toEqual(["True", reason]);
    expect(d.conditions[0]!.message).toContain("orders-binding");
  });

  it.each([
    ["binding not ready", { name: "orders-binding", ready: false }],
    ["binding ready without principal", { name: "orders-binding", ready: true, tenantId: TENANT }],
  ])("%s → WaitingForBinding, no action", (_n, binding) => {
    const d = decide(bound(binding), observed());
    expect(d.actions).toEqual([]);
    expect(cond(d, "Ready")).toEqual(["False", "WaitingForBinding"]);
    expect(cond(d, "Reconciling")).toEqual(["True", "WaitingForBinding"]);
    expect(cond(d, "Stalled")[0]).toBe("False");
    expect(d.conditions[0]!.message).toContain("orders-binding");
  });

  it("binding ready: audiences, roles, tenant and oid come from it", () => {
    const d = decide(
      bound({
        name: "orders-binding",
        ready: true,
        principalId: "p-1",
        tenantId: TENANT,
        audiences: ["api://orders"],
        roles: ["Orders.Write"],
      }),
      observed(),
    );
    expect(d.actions[0]).toMatchObject({ xml: renderFragment({ ...ruleInput, callerPrincipalId: "p-1" }) });
  });

  it("target missing → Stalled TargetNotFound naming it, no action", () => {
    const d = decide(desired(), observed({ target: { exists: false, missing: "API orders" } }));
    expect(d.actions).toEqual([]);
    expect(cond(d, "Stalled")).toEqual(["True", "TargetNotFound"]);
    expect(d.conditions.find((c) => c.type === "Stalled")!.message).toContain("API orders");
  });

  it.each([
    ["<policies><inbound><base /></outbound></policies>", "line 1, column 28"],
    ["<policies><inbound>", "is not closed"],
    ["<fragment/>", "expected <policies>"],
  ])("malformed target %j → Stalled TargetPolicyMalformed, never overwritten", (xml, where) => {
    const d = decide(desired(), observed({ policy: doc(xml), fragment: frag(renderFragment(ruleInput)) }));
    expect(d.actions).toEqual([]);
    expect(cond(d, "Stalled")).toEqual(["True", "TargetPolicyMalformed"]);
    expect(d.conditions[0]!.message).toContain(where);
  });

  it("hostile spec value → Stalled InvalidSpec, no action", () => {
    const d = decide(desired({}, { failedValidation: { message: "@(context.Variables)" } }), observed());
    expect(d.actions).toEqual([]);
    expect(cond(d, "Stalled")).toEqual(["True", "InvalidSpec"]);
  });

  it("<policies/> → Stalled TargetPolicyUnsupported", () => {
    const d = decide(desired(), observed({ policy: doc("<policies/>") }));
    expect(d.actions).toEqual([]);
    expect(cond(d, "Stalled")).toEqual(["True", "TargetPolicyUnsupported"]);
  });
});

describe("decide: deletion", () => {
  const del = (policy: "Delete" | "Orphan" = "Delete") =>
    desired({ deleting: true }, { deletionPolicy: policy });

  it("include removed before the fragment; the rest byte for byte", () => {
    const d = decide(
      del(),
      observed({
        policy: doc(insertIncludeFragment(FOREIGN, FID), "E2"),
        fragment: frag(renderFragment(ruleInput)),
      }),
    );
    expect(d.actions).toEqual([
      { type: "putPolicy", xml: FOREIGN, ifMatch: "E2" },
      { type: "deleteFragment", fragmentId: FID, ifMatch: "F1" },
    ]);
    expect(d.finalize).toBe(false);
  });

  it("a skeleton the operator created is deleted, not left behind", () => {
    const d = decide(del(), observed({ policy: doc(insertIncludeFragment(SKELETON, FID), "E3") }));
    expect(d.actions).toEqual([{ type: "deletePolicy", ifMatch: "E3" }]);
  });

  it("global skeleton is rewritten, never deleted", () => {
    const d = decide(
      desired({ deleting: true }, { target: undefined }),
      observed({ policy: doc(insertIncludeFragment(GLOBAL_SKELETON, FID), "E4") }),
    );
    expect(d.actions).toEqual([{ type: "putPolicy", xml: GLOBAL_SKELETON, ifMatch: "E4" }]);
  });

  it("nothing left → finalize", () => {
    const d = decide(del(), observed({ policy: doc(FOREIGN) }));
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
  });

  it("Orphan leaves everything and finalizes", () => {
    const d = decide(
      del("Orphan"),
      observed({ policy: doc(insertIncludeFragment(FOREIGN, FID)), fragment: frag("x") }),
    );
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(true);
    expect(cond(d, "Ready")[1]).toBe("Orphaned");
  });

  it("target gone: only the fragment is deleted", () => {
    const d = decide(
      del(),
      observed({ target: { exists: false, missing: "API orders" }, fragment: frag("x") }),
    );
    expect(d.actions).toEqual([{ type: "deleteFragment", fragmentId: FID, ifMatch: "F1" }]);
  });

  it("malformed target during deletion → Stalled, no finalize", () => {
    const d = decide(del(), observed({ policy: doc("<policies><inbound>") }));
    expect(d.actions).toEqual([]);
    expect(d.finalize).toBe(false);
    expect(cond(d, "Stalled")).toEqual(["True", "TargetPolicyMalformed"]);
  });

  it("Inline mode deletion removes marker and rule", () => {
    const inline = upsertInlineRule(FOREIGN, MARKER, renderValidateJwt(ruleInput));
    const d = decide(
      desired({ deleting: true }, { mode: "Inline" }),
      observed({ policy: doc(inline, "E5") }),
    );
    expect(d.actions).toEqual([{ type: "putPolicy", xml: FOREIGN, ifMatch: "E5" }]);
  });
});

describe("decide: Inline mode", () => {
  const inline = () => desired({}, { mode: "Inline" });

  it("new: one marked validate-jwt in inbound, no fragment", () => {
    const d = decide(inline(), observed({ policy: doc(FOREIGN) }));
    expect(types(d.actions)).toEqual(["putPolicy"]);
    const xml = (d.actions[0] as { xml: string }).xml;
    expect(findInlineRule(xml, MARKER)[0]!.element?.name).toBe("validate-jwt");
    expect(d.status.fragmentId).toBeUndefined();
  });

  it("steady state and drift repair", () => {
    const xml = upsertInlineRule(FOREIGN, MARKER, renderValidateJwt(ruleInput));
    expect(decide(inline(), observed({ policy: doc(xml) })).actions).toEqual([]);
    const edited = xml.replace("Orders.Write", "Orders.Other");
    const d = decide(inline(), observed({ policy: doc(edited), previous: { appliedFingerprint: FP } }));
    expect(d.actions).toEqual([{ type: "putPolicy", xml, ifMatch: "E1" }]);
    expect(cond(d, "Reconciling")).toEqual(["True", "DriftRepaired"]);
  });

  it("switching from Fragment to Inline removes the include, then deletes the fragment", () => {
    const d = decide(
      inline(),
      observed({
        policy: doc(insertIncludeFragment(FOREIGN, FID)),
        fragment: frag(renderFragment(ruleInput)),
      }),
    );
    expect(types(d.actions)).toEqual(["putPolicy", "deleteFragment"]);
    const xml = (d.actions[0] as { xml: string }).xml;
    expect(findIncludeFragment(xml, FID)).toHaveLength(0);
    expect(xml).toBe(upsertInlineRule(FOREIGN, MARKER, renderValidateJwt(ruleInput)));
  });

  it("switching back to Fragment removes the inline rule", () => {
    const d = decide(
      desired(),
      observed({ policy: doc(upsertInlineRule(FOREIGN, MARKER, renderValidateJwt(ruleInput))) }),
    );
    expect(types(d.actions)).toEqual(["putFragment", "putPolicy"]);
    expect((d.actions[1] as { xml: string }).xml).toBe(insertIncludeFragment(FOREIGN, FID));
  });
});
