/**
 * Issue 12: deciding a Logic App's claim walked every cached binding on every pass (O(N²) for a wave of N). The
 * pass now reads the index's bucket for its Logic App and the claim's holder; these tests hold a cache whose list()
 * throws and count what a pass reads, and check the decisions are those the whole-cache walk made.
 */
import { describe, expect, it } from "vitest";
import { FINALIZER, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { InformerHandler } from "../../runtime/informer.ts";
import { keyToString, type ObjectKey, type ReconcileContext } from "../../runtime/reconciler.ts";
import { decideClaim, type ClaimRecord } from "../shared/ownership.ts";
import { claimKeyOf, recordKeyOf } from "../shared/ownership-store.ts";
import { BindingRecords, memoryRecordStore, type BindingClaims, type PeerSource } from "./ownership.ts";
import type { BindingPorts } from "./gather.ts";
import { bindingKind } from "./kind.ts";
import { indexedPeers, logicAppIndex } from "./peers.ts";
import { KeyIndex } from "../../runtime/key-index.ts";
import { bindingDependsOn } from "../../azure/inventory/depends-on.ts";

const signal = new AbortController().signal;
const LA = (n: number | string) =>
  `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/wf-${n}`;

function binding(
  name: string,
  logicAppId: string,
  created: string,
  deleting = false,
): Readonly<LogicAppIdentityBinding> {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: {
      name,
      namespace: "team",
      uid: `uid-${name}`,
      creationTimestamp: created,
      finalizers: [FINALIZER],
      ...(deleting ? { deletionTimestamp: "2026-12-04T10:00:00Z" } : {}),
    },
    spec: { logicAppId, identity: { type: "SystemAssigned" } },
  };
}

/** An informer's cache and event source: list() throws, get() is counted. */
class CountingCache {
  readonly objects = new Map<string, Readonly<LogicAppIdentityBinding>>();
  readonly handlers: InformerHandler<LogicAppIdentityBinding>[] = [];
  gets = 0;
  on(h: InformerHandler<LogicAppIdentityBinding>): void {
    this.handlers.push(h);
  }
  put(b: Readonly<LogicAppIdentityBinding>): void {
    const key = recordKeyOf({ namespace: b.metadata.namespace ?? "", name: b.metadata.name });
    const old = this.objects.get(key);
    this.objects.set(key, b);
    for (const h of this.handlers) h(old ? "update" : "add", b, old);
  }
  remove(key: string): void {
    const old = this.objects.get(key);
    this.objects.delete(key);
    if (old) for (const h of this.handlers) h("delete", old);
  }
  get(key: ObjectKey | string): Readonly<LogicAppIdentityBinding> | undefined {
    this.gets++;
    return this.objects.get(typeof key === "string" ? key : keyToString(key));
  }
  list(): Readonly<LogicAppIdentityBinding>[] {
    throw new Error("a pass must not walk the whole cache");
  }
}

/** Claims in memory, decided by the same rule as claimLogicApp (decideClaim on what the peers give). */
function memoryClaims(): BindingClaims & { held: Map<string, ClaimRecord>; peersSeen: number[] } {
  const held = new Map<string, ClaimRecord>();
  const peersSeen: number[] = [];
  return {
    held,
    peersSeen,
    claim: async (self, peers) => {
      const key = claimKeyOf(self.logicAppId);
      const claim = held.get(key);
      const bindingsInCache = peers(claim);
      peersSeen.push(bindingsInCache.length);
      const d = decideClaim({ self, bindingsInCache, claim });
      if (!d.owner) return d.holder;
      held.set(key, { logicAppId: key, namespace: self.namespace, name: self.name, uid: self.uid });
      return undefined;
    },
    release: async () => {},
  };
}

async function pass(self: Readonly<LogicAppIdentityBinding>, peers: PeerSource, claims: BindingClaims) {
  const s = new BindingRecords({ records: memoryRecordStore(), claims }).open(self, signal, peers);
  await s.open();
  return { claimedBy: s.claimedBy, othersOnLogicApp: s.othersOnLogicApp };
}

function cacheOf(n: number): { cache: CountingCache; peers: PeerSource } {
  const cache = new CountingCache();
  const index = logicAppIndex(cache);
  for (let i = 0; i < n; i++) cache.put(binding(`b-${i}`, LA(i), "2026-12-04T09:00:00Z"));
  return { cache, peers: indexedPeers(cache, index) };
}

describe("claim peers through the Logic App index", () => {
  it("with 10,000 cached bindings a pass reads only those on its Logic App", async () => {
    const { cache, peers } = cacheOf(10_000);
    // Three more on wf-7, spelled as ARM allows (case, trailing slash); one being deleted.
    cache.put(binding("older", LA(7).toUpperCase() + "/", "2026-12-04T08:00:00Z"));
    cache.put(binding("younger", LA(7), "2026-12-04T11:00:00Z"));
    cache.put(binding("leaving", LA(7), "2026-12-04T07:00:00Z", true));
    const claims = memoryClaims();
    cache.gets = 0;
    const self = binding("younger", LA(7), "2026-12-04T11:00:00Z");
    expect(await pass(self, peers, claims)).toEqual({ claimedBy: "team/older", othersOnLogicApp: 2 });
    // b-7, older, leaving (younger is itself): four bucket entries read, nothing else.
    expect(cache.gets).toBe(4);
    expect(claims.peersSeen).toEqual([3]);
  });

  it("the binding kind, given the operator's index, hands the claim only the bucket: list() is never called", async () => {
    const cache = new CountingCache();
    const index = logicAppIndex(cache);
    for (let i = 0; i < 10_000; i++) cache.put(binding(`b-${i}`, LA(i % 5000), "2026-12-04T09:00:00Z"));
    const seen: string[][] = [];
    const stop = new Error("stop after the claim");
    const claims: BindingClaims = {
      claim: async (_self, peers) => {
        seen.push(peers(undefined).map((c) => c.name));
        throw stop; // the rest of the pass reads Azure; the claim is what this test is about
      },
      release: async () => {},
    };
    const kind = bindingKind({
      ports: {} as unknown as BindingPorts,
      records: new BindingRecords({ records: memoryRecordStore(), claims }),
      logicAppIndex: index,
    });
    const ctx = { signal, cache: () => cache } as unknown as ReconcileContext<LogicAppIdentityBinding>;
    const self = cache.objects.get("team/b-7")!;
    cache.gets = 0;
    const hooks = kind.open(self, { call: { signal }, ctx });
    await expect(hooks.gather(self)).rejects.toBe(stop);
    expect(seen).toEqual([["b-5007"]]);
    expect(cache.gets).toBe(2);
  });

  it("a claim's holder whose spec moved to another Logic App still holds, and is read by name", async () => {
    const { cache, peers } = cacheOf(10_000);
    cache.put(binding("mover", LA("elsewhere"), "2026-12-04T12:00:00Z"));
    const claims = memoryClaims();
    claims.held.set(claimKeyOf(LA(42)), {
      logicAppId: claimKeyOf(LA(42)),
      namespace: "team",
      name: "mover",
      uid: "uid-mover",
    });
    cache.gets = 0;
    const self = binding("b-42", LA(42), "2026-12-04T09:00:00Z");
    expect(await pass(self, peers, claims)).toEqual({ claimedBy: "team/mover", othersOnLogicApp: 0 });
    expect(cache.gets).toBe(2); // its own bucket entry (itself, skipped) and the holder
    // The holder gone from the cache: the oldest binding on the Logic App takes it over.
    cache.remove("team/mover");
    expect(await pass(self, peers, claims)).toEqual({ claimedBy: undefined, othersOnLogicApp: 0 });
    expect(claims.held.get(claimKeyOf(LA(42)))?.name).toBe("b-42");
  });

  it("the index follows a binding whose spec moves and one that is deleted", async () => {
    const { cache, peers } = cacheOf(10);
    cache.put(binding("first", LA(3), "2026-12-04T08:00:00Z"));
    const self = binding("b-3", LA(3), "2026-12-04T09:00:00Z");
    expect((await pass(self, peers, memoryClaims())).claimedBy).toBe("team/first");
    cache.put(binding("first", LA(4), "2026-12-04T08:00:00Z"));
    expect(await pass(self, peers, memoryClaims())).toEqual({ claimedBy: undefined, othersOnLogicApp: 0 });
    cache.put(binding("first", LA(3), "2026-12-04T08:00:00Z"));
    cache.remove("team/first");
    expect(await pass(self, peers, memoryClaims())).toEqual({ claimedBy: undefined, othersOnLogicApp: 0 });
  });

  // The operator's index is the inventory's dependency index (its Logic App key is the canonical ID, beside
  // principals and APIs); the claim index alone is what benches and converge build.
  it.each([
    ["the claim index", (c: CountingCache) => logicAppIndex(c)],
    ["the operator's dependency index", (c: CountingCache) => new KeyIndex(c, bindingDependsOn)],
  ])(
    "decides exactly as walking the whole cache did, over random caches and claims, with %s",
    async (_, makeIndex) => {
      let seed = 12;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
      const outcomes = new Set<string>();
      for (let round = 0; round < 300; round++) {
        const cache = new CountingCache();
        const index = makeIndex(cache);
        const all: Readonly<LogicAppIdentityBinding>[] = [];
        for (let i = 0; i < 12; i++) {
          const id = LA(rand(3));
          const created = `2026-12-04T0${rand(10)}:00:00Z`;
          const b = binding(`b-${i}`, rand(2) ? id : `${id.toUpperCase()}/`, created, rand(5) === 0);
          all.push(b);
          cache.put(b);
        }
        const self = all[rand(all.length)]!;
        const key = claimKeyOf(self.spec.logicAppId);
        const holder = `b-${rand(15)}`; // sometimes one the cache does not hold
        const claim: ClaimRecord | undefined =
          rand(3) > 0
            ? { logicAppId: key, namespace: "team", name: holder, uid: `uid-${holder}` }
            : undefined;
        // The rule as it was before the index: every other cached binding handed to decideClaim.
        const asCandidate = (b: Readonly<LogicAppIdentityBinding>) => ({
          namespace: "team",
          name: b.metadata.name,
          uid: b.metadata.uid ?? "",
          creationTimestamp: b.metadata.creationTimestamp ?? "",
          logicAppId: b.spec.logicAppId,
          ...(b.metadata.deletionTimestamp ? { deleting: true } : {}),
        });
        const others = all.filter((b) => b !== self).map(asCandidate);
        const d = decideClaim({ self: asCandidate(self), bindingsInCache: others, claim });
        const expected = {
          claimedBy: d.owner ? undefined : d.holder,
          othersOnLogicApp: others.filter((b) => !b.deleting && claimKeyOf(b.logicAppId) === key).length,
        };
        const claims = memoryClaims();
        if (claim) claims.held.set(key, claim);
        expect(await pass(self, indexedPeers(cache, index), claims)).toEqual(expected);
        const who = d.owner ? "owner" : claim && d.holder === `team/${holder}` ? "holder" : "oldest";
        outcomes.add(`${claim ? "claim" : "none"}:${who}`);
      }
      // Every branch of the rule came up: no claim, a live holder, a gone holder, owner or not.
      expect([...outcomes].sort()).toEqual(
        ["claim:holder", "claim:oldest", "claim:owner", "none:oldest", "none:owner"].sort(),
      );
    },
  );
});
