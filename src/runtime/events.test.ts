import { describe, expect, it } from "vitest";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { FakeClock } from "./clock.ts";
import type { KubeClient } from "./client.ts";
import { EventRecorder } from "./events.ts";

/** Records writes; Events are stored by name so series patches can be checked against the created object. */
function fakeClient() {
  const events = new Map<string, Record<string, unknown>>();
  const writes: string[] = [];
  const client = {
    async create(_r: unknown, _ns: string, body: { metadata: { name: string } }) {
      writes.push("create");
      events.set(body.metadata.name, body as unknown as Record<string, unknown>);
      return body;
    },
    async patch(_r: unknown, key: { name: string }, body: Record<string, unknown>) {
      writes.push("patch");
      const e = events.get(key.name)!;
      Object.assign(e, body);
      return e;
    },
  } as unknown as KubeClient;
  return { client, events, writes };
}

const obj = (name: string): KubeObject => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "LogicAppIdentityBinding",
  metadata: { name, namespace: "ns", uid: `uid-${name}`, resourceVersion: "1" },
  spec: {},
});

describe("EventRecorder", () => {
  it("repeats within the window become one Event with a series count", async () => {
    const clock = new FakeClock(1_000_000);
    const f = fakeClient();
    const r = new EventRecorder({
      client: f.client,
      controller: "c",
      instance: "i",
      clock,
      seriesFlushMs: 1000,
    });
    for (let i = 0; i < 5; i++) {
      r.record(obj("a"), { type: "Warning", reason: "Throttled", note: "ARM said 429" });
      await clock.advance(100);
    }
    await clock.advance(1000);
    await r.flush();
    expect(f.events.size).toBe(1);
    const e = [...f.events.values()][0]!;
    expect(e).toMatchObject({ reason: "Throttled", type: "Warning", reportingController: "c" });
    expect((e.series as { count: number }).count).toBe(5);
    // one create and one batched series patch, not five objects
    expect(f.writes).toEqual(["create", "patch"]);
  });

  it("a different note, reason or object is a different Event", async () => {
    const clock = new FakeClock(0);
    const f = fakeClient();
    const r = new EventRecorder({ client: f.client, controller: "c", instance: "i", clock });
    r.record(obj("a"), { type: "Normal", reason: "Granted", note: "x" });
    r.record(obj("a"), { type: "Normal", reason: "Granted", note: "y" });
    r.record(obj("a"), { type: "Normal", reason: "Revoked", note: "x" });
    r.record(obj("b"), { type: "Normal", reason: "Granted", note: "x" });
    await r.flush();
    expect(f.events.size).toBe(4);
  });

  it("after the window a repeat creates a new Event", async () => {
    const clock = new FakeClock(0);
    const f = fakeClient();
    const r = new EventRecorder({
      client: f.client,
      controller: "c",
      instance: "i",
      clock,
      dedupeWindowMs: 60_000,
    });
    r.record(obj("a"), { type: "Normal", reason: "Healed", note: "x" });
    await clock.advance(61_000);
    r.record(obj("a"), { type: "Normal", reason: "Healed", note: "x" });
    await r.flush();
    expect(f.events.size).toBe(2);
  });

  it("rate limit per object: a burst, then one per refill interval; other objects unaffected", async () => {
    const clock = new FakeClock(0);
    const f = fakeClient();
    const r = new EventRecorder({
      client: f.client,
      controller: "c",
      instance: "i",
      clock,
      burst: 3,
      refillMs: 10_000,
    });
    for (let i = 0; i < 10; i++) r.record(obj("a"), { type: "Normal", reason: "R", note: `n${i}` });
    r.record(obj("b"), { type: "Normal", reason: "R", note: "n" });
    await r.flush();
    expect(f.events.size).toBe(4);
    expect(r.dropped).toBe(7);
    await clock.advance(10_000);
    r.record(obj("a"), { type: "Normal", reason: "R", note: "later" });
    r.record(obj("a"), { type: "Normal", reason: "R", note: "later2" });
    await r.flush();
    expect(f.events.size).toBe(5);
  });
});

describe("EventRecorder memory", () => {
  it("holds nothing for objects long quiet, and never more than maxEntries", async () => {
    const clock = new FakeClock(1_000_000);
    const f = fakeClient();
    const r = new EventRecorder({ client: f.client, controller: "c", instance: "i", clock, maxEntries: 100 });
    for (let i = 0; i < 300; i++)
      r.record(obj(`b-${i}`), { type: "Warning", reason: "Stalled", note: "denied" });
    await r.flush();
    expect(r.held).toEqual({ series: 100, buckets: 100 });
    // Past the dedupe window (10 min) and a full refill (one token is back after 5 min): nothing left to hold.
    await clock.advance(11 * 60_000);
    r.record(obj("late"), { type: "Normal", reason: "Granted", note: "ok" });
    await r.flush();
    expect(r.held).toEqual({ series: 1, buckets: 1 });
    expect(f.events.size).toBe(301);
  });

  it("a repeat still joins its series after the bound evicted others", async () => {
    const clock = new FakeClock(1_000_000);
    const f = fakeClient();
    const r = new EventRecorder({ client: f.client, controller: "c", instance: "i", clock, maxEntries: 3 });
    const hot = obj("hot");
    for (let i = 0; i < 10; i++) {
      r.record(hot, { type: "Warning", reason: "Throttled", note: "429" });
      r.record(obj(`cold-${i}`), { type: "Normal", reason: "Granted", note: "ok" });
    }
    await r.flush();
    expect([...f.events.values()].filter((e) => (e.note as string) === "429")).toHaveLength(1);
  });
});
