/**
 * Finding 6 of docs/reliability.md (ADR 0026): a resync pass that meets a 500/timeout/429 before it saw any drift
 * must not turn a Ready object unready. The whole engine runs here (PassReconciler with the real StatusWriter over
 * an in-memory API server) on a toy kind whose "Azure" is one wanted/have pair; the assertions read the status the
 * fake API server holds and the Events recorded.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { applyConditions, findCondition, type Condition } from "../../api/v1alpha1/conditions.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import { AzureError, type AzureErrorKind } from "../../azure/errors.ts";
import type { KubeClient } from "../../runtime/client.ts";
import { FakeClock } from "../../runtime/clock.ts";
import type { EventInput } from "../../runtime/events.ts";
import { createLogger } from "../../runtime/logger.ts";
import { RetryableError, type ReconcileContext } from "../../runtime/reconciler.ts";
import type { ResourceType } from "../../runtime/resource.ts";
import { StatusWriter } from "../../runtime/status.ts";
import { DEFAULT_TRANSIENT_GRACE_MS, PassReconciler, readyHold, SYNCED, type Kind } from "./pass.ts";
import type { PassAction } from "./rounds.ts";

interface ToyStatus {
  conditions?: Condition[];
  have?: string;
}
type Toy = KubeObject<{ want: string }, ToyStatus>;
interface Grant extends PassAction {
  type: "grant";
  value: string;
}

const T0 = Date.parse("2026-12-04T10:00:00Z");
const RESOURCE = {
  group: "laio.example.com",
  version: "v1alpha1",
  plural: "toys",
} as unknown as ResourceType;

/** The outside world of the toy kind, and the faults it answers with. */
let azure: { have: string; readFault?: AzureErrorKind; writeFault?: AzureErrorKind };
/** What the API server holds, and how many status writes reached it. */
let stored: Toy;
let writes: number;
let events: EventInput[];
let clock: FakeClock;

const fault = (kind: AzureErrorKind, operation: string) =>
  new AzureError({ kind, message: `${kind} on ${operation}`, service: "arm-logic", operation });

const toyKind: Kind<Toy, string, Grant, ToyStatus> = {
  name: "Toy",
  resource: RESOURCE,
  finalizer: false,
  open: () => ({
    gather: async () => {
      if (azure.readFault) throw fault(azure.readFault, "workflows.get");
      return azure.have;
    },
    decide: (obj, have) => {
      const g = { observedGeneration: obj.metadata.generation ?? 0 };
      const ok = have === obj.spec.want;
      return {
        actions: ok ? [] : [{ type: "grant", value: obj.spec.want }],
        status: { have },
        conditions: [
          ok
            ? { type: "Ready", status: "True", reason: "Ready", message: "", ...g }
            : { type: "Ready", status: "False", reason: "Granting", message: "", ...g },
          { type: "Reconciling", status: ok ? "False" : "True", reason: ok ? "Ready" : "Granting", ...g },
        ],
        finalize: false,
        stalled: false,
        findings: [],
      };
    },
    apply: async (actions) => {
      if (azure.writeFault)
        return { results: [], stoppedBy: fault(azure.writeFault, "roleAssignments.create") };
      for (const a of actions) azure.have = a.value;
      return { results: actions.map((action) => ({ action, outcome: "done" as const })) };
    },
    report: () => ({}),
  }),
};

const client = {
  async replace(_r: ResourceType, _k: unknown, body: Toy) {
    writes++;
    const rv = String(Number(stored.metadata.resourceVersion) + 1);
    stored = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: rv } });
    return structuredClone(stored);
  },
  async get() {
    return structuredClone(stored);
  },
} as unknown as KubeClient;

function engine(graceMs?: number) {
  return new PassReconciler(toyKind, {
    client,
    status: new StatusWriter(client),
    events: { record: (_o, e) => events.push(e) },
    ...(graceMs !== undefined ? { transientGraceMs: graceMs } : {}),
  });
}

function ctx(): ReconcileContext<Toy> {
  return {
    reconcileId: "r",
    key: { namespace: "team-a", name: "toy" },
    log: createLogger({ level: "silent" }),
    signal: new AbortController().signal,
    clock,
    attempt: 0,
    object: () => Object.freeze(structuredClone(stored)),
    cache: () => {
      throw new Error("not used");
    },
  };
}

/** One pass; a failure is the RetryableError the work queue backs off on. */
async function pass(r = engine()): Promise<"ok" | RetryableError> {
  try {
    await r.reconcile({ namespace: "team-a", name: "toy" }, ctx());
    return "ok";
  } catch (e) {
    if (e instanceof RetryableError) return e;
    throw e;
  }
}

const cond = (type: string) => findCondition(stored.status?.conditions, type);

beforeEach(async () => {
  azure = { have: "" };
  writes = 0;
  events = [];
  clock = new FakeClock(T0);
  stored = {
    apiVersion: "laio.example.com/v1alpha1",
    kind: "Toy",
    metadata: { namespace: "team-a", name: "toy", uid: "u", generation: 1, resourceVersion: "1" },
    spec: { want: "reader" },
  };
  expect(await pass()).toBe("ok"); // grants, then observes: Ready for generation 1
  expect(cond("Ready")).toMatchObject({ status: "True", observedGeneration: 1 });
  writes = 0;
  events = [];
});

describe("a transient failure of a resync pass that found no drift keeps Ready (finding 6)", () => {
  it.each<AzureErrorKind>(["Transient", "Throttled"])(
    "%s: Ready stays True, Synced False carries the reason, one Warning per episode, then it clears",
    async (kind) => {
      const reason = kind === "Transient" ? "AzureUnavailable" : "Throttled";
      azure.readFault = kind;
      const failed = await pass();
      expect(failed).toBeInstanceOf(RetryableError); // backoff as before
      expect(cond("Ready")).toMatchObject({ status: "True", reason: "Ready" });
      expect(cond("Reconciling")?.status).toBe("False");
      expect(cond(SYNCED)).toMatchObject({ status: "False", reason, observedGeneration: 1 });
      expect(cond(SYNCED)?.message).toContain("workflows.get");
      expect(events.map((e) => [e.type, e.note.includes("still Ready")])).toEqual([["Warning", true]]);
      expect(writes).toBe(1);

      await clock.advance(60_000);
      expect(await pass()).toBeInstanceOf(RetryableError);
      expect(cond("Ready")?.status).toBe("True");
      expect(events).toHaveLength(1); // once per episode
      expect(writes).toBe(1); // nothing changed: nothing written

      azure.readFault = undefined;
      expect(await pass()).toBe("ok");
      expect(cond("Ready")?.status).toBe("True");
      expect(cond(SYNCED)).toMatchObject({ status: "True", reason: "Succeeded" });
      expect(writes).toBe(2);
    },
  );

  it("a new generation flips Ready False as before", async () => {
    stored = { ...stored, metadata: { ...stored.metadata, generation: 2 }, spec: { want: "writer" } };
    azure.readFault = "Transient";
    await pass();
    expect(cond("Ready")).toMatchObject({
      status: "False",
      reason: "AzureUnavailable",
      observedGeneration: 2,
    });
    expect(cond("Reconciling")).toMatchObject({ status: "True", reason: "AzureUnavailable" });
    expect(cond(SYNCED)?.status).toBe("False");
  });

  it("known drift (a write decided, then refused by a 500) flips Ready False", async () => {
    azure.have = "someone-else";
    azure.writeFault = "Transient";
    await pass();
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "AzureUnavailable" });
  });

  it("a non-transient error (403) flips Ready False and stalls", async () => {
    azure.readFault = "Forbidden";
    await pass();
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "AccessDenied" });
    expect(cond("Stalled")?.status).toBe("True");
  });

  it("still failing after the grace (10 min by default) flips Ready False", async () => {
    azure.readFault = "Transient";
    await pass();
    expect(cond("Ready")?.status).toBe("True");
    await clock.advance(DEFAULT_TRANSIENT_GRACE_MS - 1_000);
    await pass();
    expect(cond("Ready")?.status).toBe("True");
    await clock.advance(1_000);
    await pass();
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "AzureUnavailable" });
    expect(cond("Reconciling")).toMatchObject({ status: "True", reason: "AzureUnavailable" });
  });

  it("a grace of 0 restores the old behaviour", async () => {
    azure.readFault = "Transient";
    await pass(engine(0));
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "AzureUnavailable" });
  });
});

describe("readyHold", () => {
  const ready = (gen: number, extra: Condition[] = []): Condition[] =>
    applyConditions(
      extra,
      [{ type: "Ready", status: "True", reason: "Ready", observedGeneration: gen }],
      "2026-12-04T10:00:00Z",
    );
  const syncedFalse = applyConditions(
    [],
    [{ type: SYNCED, status: "False", reason: "AzureUnavailable" }],
    "2026-12-04T10:00:00Z",
  );
  const base = {
    generation: 1,
    failure: { transient: true },
    deleting: false,
    driftKnown: false,
    nowMs: T0 + 1_000,
    graceMs: 600_000,
  };
  it.each([
    ["Ready, no episode yet", { conditions: ready(1) }, "new"],
    ["Ready, episode under way", { conditions: ready(1, syncedFalse) }, "ongoing"],
    ["episode past its grace", { conditions: ready(1, syncedFalse), nowMs: T0 + 600_000 }, "none"],
    ["Ready for an older generation", { conditions: ready(1), generation: 2 }, "none"],
    ["not Ready", { conditions: [] }, "none"],
    ["drift known", { conditions: ready(1), driftKnown: true }, "none"],
    ["not transient", { conditions: ready(1), failure: { transient: false } }, "none"],
    ["deleting", { conditions: ready(1), deleting: true }, "none"],
  ] as const)("%s → %s", (_n, over, expected) => {
    expect(readyHold({ ...base, ...over })).toBe(expected);
  });
});

describe("a write the guard refuses", () => {
  it("is Stalled with the guard's reason and not rechecked on a timer (a person's change enqueues it)", async () => {
    stored = { ...stored, metadata: { ...stored.metadata, generation: 2 }, spec: { want: "owner" } };
    const refused = new PassReconciler(toyKind, {
      client,
      status: new StatusWriter(client),
      events: { record: (_o, e) => events.push(e) },
      guard: (_obj, actions) => ({
        allowed: [],
        denied: actions.map((action) => ({
          action,
          reason: "NotAllowed",
          message: "owner is not allowed here",
        })),
      }),
    });
    const result = await refused.reconcile({ namespace: "team-a", name: "toy" }, ctx());
    expect(result).toEqual({});
    expect(azure.have).toBe("reader");
    expect(cond("Stalled")).toMatchObject({ status: "True", reason: "NotAllowed" });
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "NotAllowed" });
    expect(events.map((e) => e.reason)).toContain("NotAllowed");
  });

  it("a decision Stalled on its own is still rechecked every 5 minutes", async () => {
    const stalledKind: typeof toyKind = {
      ...toyKind,
      open: (...args) => {
        const hooks = toyKind.open(...args);
        return {
          ...hooks,
          decide: (obj, have, ...rest) => ({
            ...hooks.decide(obj, have, ...rest),
            actions: [],
            stalled: true,
          }),
        };
      },
    };
    stored = { ...stored, metadata: { ...stored.metadata, generation: 2 }, spec: { want: "owner" } };
    const r = new PassReconciler(stalledKind, {
      client,
      status: new StatusWriter(client),
      events: { record: (_o, e) => events.push(e) },
    });
    expect(await r.reconcile({ namespace: "team-a", name: "toy" }, ctx())).toEqual({
      requeueAfterMs: 300_000,
    });
  });
});
