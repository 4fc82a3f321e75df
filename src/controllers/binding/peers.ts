/**
 * The other bindings a pass must see to decide its Logic App's claim (docs/ownership.md): those naming the same
 * Logic App, and the claim's holder whatever it names now. With thousands of cached bindings, walking the whole
 * cache on every pass made a wave of N passes cost O(N²) (issue 12, docs/benchmarks.md); the operator indexes the
 * cache by canonical Logic App ID once, and a pass reads only its own bucket.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { KeyIndex, type IndexSource } from "../../runtime/key-index.ts";
import type { CacheReader } from "../../runtime/reconciler.ts";
import { canonicalLogicAppId } from "../shared/ownership.ts";

type Binding = Readonly<LogicAppIdentityBinding>;

export interface BindingPeers {
  /** Cached bindings whose spec names this canonical Logic App ID (the asking binding may be among them). */
  onLogicApp(canonicalId: string): readonly Binding[];
  /** A cached binding by namespace and name. */
  get(namespace: string, name: string): Binding | undefined;
}

/**
 * Bindings by canonical Logic App ID, kept current by the binding informer's events. The operator's index also
 * holds the bindings' other Azure dependencies (src/azure/inventory/depends-on.ts, whose Logic App key is the same
 * canonical ID): a lookup by Logic App may name more keys than it asked for, so readers filter by spec.
 */
export type LogicAppIndex = KeyIndex<LogicAppIdentityBinding>;

/** Must be created before the informer starts: the index learns objects only from events. */
export function logicAppIndex(source: IndexSource<LogicAppIdentityBinding>): LogicAppIndex {
  return new KeyIndex(source, (b) => [canonicalLogicAppId(b.spec.logicAppId)]);
}

/** Peers through the index: one bucket and one lookup per pass, whatever the cache holds. */
export function indexedPeers(
  cache: Pick<CacheReader<LogicAppIdentityBinding>, "get">,
  index: LogicAppIndex,
): BindingPeers {
  return {
    onLogicApp: (id) =>
      index
        .keysFor([id])
        .map((k) => cache.get(k))
        // The index and the cache move on the same event, but a stale key must never name another Logic App.
        .filter((b): b is Binding => b !== undefined && canonicalLogicAppId(b.spec.logicAppId) === id),
    get: (namespace, name) => cache.get({ namespace, name }),
  };
}

/** Peers by walking a list: for passes without an informer (converge, plan, tests), where the list is small. */
export function scannedPeers(list: () => readonly Binding[]): BindingPeers {
  return {
    onLogicApp: (id) => list().filter((b) => canonicalLogicAppId(b.spec.logicAppId) === id),
    get: (namespace, name) =>
      list().find((b) => (b.metadata.namespace ?? "") === namespace && b.metadata.name === name),
  };
}
