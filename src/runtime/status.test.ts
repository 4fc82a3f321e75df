import { describe, expect, it } from "vitest";
import type { Condition } from "../api/v1alpha1/conditions.ts";
import { getCondition, removeCondition, setCondition, summarize, type ConditionInput } from "./status.ts";

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-01T01:00:00Z";

const ready = (
  status: Condition["status"],
  reason = "Ok",
  message = "",
  observedGeneration = 1,
): Condition => ({
  type: "Ready",
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: T0,
});

interface Case {
  name: string;
  before: Condition[] | undefined;
  set: ConditionInput;
  expect: Condition[];
}

const cases: Case[] = [
  {
    name: "first visit adds the condition with the current time",
    before: undefined,
    set: { type: "Ready", status: "Unknown", reason: "Reconciling", observedGeneration: 1 },
    expect: [
      {
        type: "Ready",
        status: "Unknown",
        reason: "Reconciling",
        message: "",
        observedGeneration: 1,
        lastTransitionTime: T1,
      },
    ],
  },
  {
    name: "same status, new reason and message: lastTransitionTime kept",
    before: [ready("False", "Waiting", "a")],
    set: { type: "Ready", status: "False", reason: "RoleNotFound", message: "b", observedGeneration: 2 },
    expect: [
      {
        type: "Ready",
        status: "False",
        reason: "RoleNotFound",
        message: "b",
        observedGeneration: 2,
        lastTransitionTime: T0,
      },
    ],
  },
  {
    name: "status changes: lastTransitionTime moves",
    before: [ready("False")],
    set: { type: "Ready", status: "True", reason: "Ok", observedGeneration: 1 },
    expect: [{ ...ready("True"), lastTransitionTime: T1 }],
  },
  {
    name: "other conditions untouched and order kept",
    before: [ready("True"), { ...ready("True"), type: "IdentityReady" }],
    set: { type: "Ready", status: "False", reason: "Broken", observedGeneration: 1 },
    expect: [
      { ...ready("False", "Broken"), lastTransitionTime: T1 },
      { ...ready("True"), type: "IdentityReady" },
    ],
  },
  {
    name: "a new type is appended",
    before: [ready("True")],
    set: { type: "PolicyApplied", status: "True", reason: "Applied" },
    expect: [
      ready("True"),
      { type: "PolicyApplied", status: "True", reason: "Applied", message: "", lastTransitionTime: T1 },
    ],
  },
];

describe("setCondition", () => {
  for (const c of cases) {
    it(c.name, () => {
      const frozen = c.before ? Object.freeze(c.before.map((x) => Object.freeze({ ...x }))) : undefined;
      expect(setCondition(frozen, c.set, T1)).toEqual(c.expect);
    });
  }
  it("formats Date times at second precision like the API server", () => {
    const out = setCondition(
      [],
      { type: "Ready", status: "True", reason: "Ok" },
      new Date("2026-02-03T04:05:06.789Z"),
    );
    expect(out[0]!.lastTransitionTime).toBe("2026-02-03T04:05:06Z");
  });
  it("removeCondition drops only that type", () => {
    expect(
      removeCondition([ready("True"), { ...ready("True"), type: "X" }], "Ready").map((c) => c.type),
    ).toEqual(["X"]);
  });
});

describe("summarize (kstatus)", () => {
  const types = (cs: Condition[]) => cs.map((c) => `${c.type}=${c.status}`).sort();
  const table: Array<{ name: string; summary: Parameters<typeof summarize>[1]; expect: string[] }> = [
    { name: "ready", summary: { state: "ready", reason: "Ok" }, expect: ["Ready=True"] },
    {
      name: "progressing",
      summary: { state: "progressing", reason: "Granting" },
      expect: ["Ready=Unknown", "Reconciling=True"],
    },
    {
      name: "progressing with Ready False",
      summary: { state: "progressing", reason: "Waiting", readyStatus: "False" },
      expect: ["Ready=False", "Reconciling=True"],
    },
    {
      name: "stalled",
      summary: { state: "stalled", reason: "InvalidSpec" },
      expect: ["Ready=False", "Stalled=True"],
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const start = summarize(undefined, { state: "progressing", reason: "Start" }, 1, T0);
      const withStalled = summarize(start, { state: "stalled", reason: "X" }, 1, T0);
      const out = summarize(withStalled, c.summary, 3, T1);
      expect(types(out)).toEqual(c.expect);
      expect(getCondition(out, "Ready")!.observedGeneration).toBe(3);
    });
  }
});
