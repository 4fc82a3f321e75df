import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.ts";
import { KubeApiError, type KubeClient } from "./client.ts";
import { LeaderElector, type LeaseObject } from "./leader-election.ts";

/** An in-memory Lease store with resourceVersion checks, standing in for the API server's optimistic concurrency. */
function leaseStore() {
  let lease: LeaseObject | undefined;
  let rv = 0;
  let down = false;
  const client = {
    async get() {
      if (down) throw new Error("connection refused");
      if (!lease) throw new KubeApiError(404, "not found", "NotFound", undefined);
      return structuredClone(lease);
    },
    async create(_r: unknown, _ns: string, body: LeaseObject) {
      if (down) throw new Error("connection refused");
      if (lease) throw new KubeApiError(409, "exists", "AlreadyExists", undefined);
      lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
    async replace(_r: unknown, _k: unknown, body: LeaseObject) {
      if (down) throw new Error("connection refused");
      if (body.metadata.resourceVersion !== lease?.metadata.resourceVersion)
        throw new KubeApiError(409, "conflict", "Conflict", undefined);
      lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
  } as unknown as KubeClient;
  return {
    client,
    holder: () => lease?.spec?.holderIdentity,
    setDown: (d: boolean) => (down = d),
  };
}

function elector(store: ReturnType<typeof leaseStore>, clock: FakeClock, identity: string, log: string[]) {
  return new LeaderElector({
    client: store.client,
    name: "l",
    namespace: "ns",
    identity,
    clock,
    onStartedLeading: () => log.push(`${identity} started`),
    onStoppedLeading: (reason) => log.push(`${identity} stopped ${reason}`),
  });
}

describe("LeaderElector (15 s / 10 s / 2 s defaults, fake clock)", () => {
  it("one of two candidates leads; the other takes over after the leader is released", async () => {
    const clock = new FakeClock(1_000_000);
    const store = leaseStore();
    const log: string[] = [];
    const a = elector(store, clock, "a", log);
    const b = elector(store, clock, "b", log);
    a.start();
    await clock.advance(0);
    b.start();
    await clock.advance(10_000);
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(store.holder()).toBe("a");
    await a.stop();
    expect(store.holder()).toBeUndefined();
    expect(log).toContain("a stopped released");
    await clock.advance(2_500);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it("a leader that stops renewing (crash) is replaced after the lease duration, not before", async () => {
    const clock = new FakeClock(0);
    const store = leaseStore();
    const log: string[] = [];
    const a = elector(store, clock, "a", log);
    const b = elector(store, clock, "b", log);
    a.start();
    await clock.advance(0);
    b.start();
    await clock.advance(4_000);
    // Simulate a crash: a's loop stops without releasing (its renewals simply stop arriving).
    (a as unknown as { running: boolean }).running = false;
    await clock.advance(12_000);
    expect(b.isLeader()).toBe(false);
    await clock.advance(6_000);
    expect(b.isLeader()).toBe(true);
    expect(store.holder()).toBe("b");
    await b.stop();
  });

  it("the leader steps down when it cannot renew within the renew deadline", async () => {
    const clock = new FakeClock(0);
    const store = leaseStore();
    const log: string[] = [];
    const a = elector(store, clock, "a", log);
    a.start();
    await clock.advance(2_000);
    expect(a.isLeader()).toBe(true);
    store.setDown(true);
    await clock.advance(8_000);
    expect(a.isLeader()).toBe(true);
    await clock.advance(4_000);
    expect(a.isLeader()).toBe(false);
    expect(log).toEqual(["a started", "a stopped lost"]);
    store.setDown(false);
    await a.stop();
  });
});
