import { describe, expect, it } from "vitest";
import { applyConditions, type Condition } from "../../api/v1alpha1/conditions.ts";
import { stalledTransition, withDenials } from "./pass.ts";
import type { Decision, PassAction } from "./rounds.ts";

const T = "2026-12-01T10:00:00Z";
const stalled = (reason: string): Condition[] =>
  applyConditions([], [{ type: "Stalled", status: "True", reason, message: `${reason} detail` }], T);
const notStalled = applyConditions([], [{ type: "Stalled", status: "False", reason: "NotStalled" }], T);

describe("stalledTransition", () => {
  it.each([
    ["becomes Stalled", notStalled, stalled("RoleNotFound"), true, "RoleNotFound: RoleNotFound detail"],
    ["first visit, Stalled", undefined, stalled("ApiNotFound"), true, "ApiNotFound: ApiNotFound detail"],
    [
      "stalls for another reason",
      stalled("RoleNotFound"),
      stalled("ApiNotFound"),
      true,
      "ApiNotFound: ApiNotFound detail",
    ],
    ["still Stalled for the same reason", stalled("RoleNotFound"), stalled("RoleNotFound"), true, undefined],
    ["not stalled", stalled("RoleNotFound"), notStalled, false, undefined],
  ])("%s", (_name, before, after, isStalled, note) => {
    const e = stalledTransition(before, after, isStalled);
    if (note === undefined) expect(e).toBeUndefined();
    else expect(e).toEqual({ type: "Warning", reason: "Stalled", note });
  });
});

describe("withDenials", () => {
  const d: Decision<PassAction & { id: string }, object> = {
    actions: [
      { type: "grant", id: "a" },
      { type: "grant", id: "b" },
    ],
    status: {},
    conditions: [{ type: "Ready", status: "False", reason: "Granting" }],
    finalize: false,
    stalled: false,
    findings: [],
  };
  it("is the decision itself when nothing was denied", () => {
    expect(withDenials(d, [], 2)).toBe(d);
  });
  it("drops denied writes (by value) and stalls with the guard's reason", () => {
    const out = withDenials(
      d,
      [{ action: { type: "grant", id: "b" }, reason: "NotAllowed", message: "no" }],
      2,
    );
    expect(out.actions).toEqual([{ type: "grant", id: "a" }]);
    expect(out.stalled).toBe(true);
    expect(out.conditions).toEqual(
      expect.arrayContaining([
        { type: "Ready", status: "False", reason: "NotAllowed", message: "grant: no", observedGeneration: 2 },
        {
          type: "Stalled",
          status: "True",
          reason: "NotAllowed",
          message: "grant: no",
          observedGeneration: 2,
        },
      ]),
    );
  });
});
