/**
 * One copy of each repeated string in the informer cache (issue 12's memory target, docs/benchmarks.md).
 *
 * JSON.parse gives every string value its own copy, so a cached object repeats what it says more than once, and
 * every object of a kind repeats the same vocabulary. Measured in a heap snapshot of the operator with 2,000 denied
 * bindings cached: strings were half of what an object cost (5.2 of 10.6 KB); the denial message alone was 8
 * copies of 336 bytes per binding (each condition and each grant entry of the status says it), and condition types,
 * reasons, role names, API names, apiVersion and the finalizer were one copy per object each.
 *
 * `shareStrings` replaces, in an object the informer is about to cache, every string equal to one seen earlier in
 * the same object by that first copy, and short strings by the copy a pool shared by the informer's objects holds.
 * Values stay equal (===), only their storage is shared, so nothing that reads the cache can tell.
 */

/** Strings up to this length go through the shared pool; longer ones (messages, IDs) are mostly unique per object. */
const POOLED_MAX_LENGTH = 64;

/**
 * A bounded pool: two generations of at most `limit` entries. A string found in either is served from there and
 * kept in the young one; when the young one is full it becomes the old one and the previous old one is dropped.
 * So the vocabulary every object repeats stays pooled, and unique values (names, UIDs) cannot grow it without bound.
 */
export class StringPool {
  private young = new Map<string, string>();
  private old = new Map<string, string>();
  private readonly limit: number;

  constructor(limit = 4096) {
    this.limit = limit;
  }

  share(s: string): string {
    const hit = this.young.get(s);
    if (hit !== undefined) return hit;
    const kept = this.old.get(s) ?? s;
    this.young.set(kept, kept);
    if (this.young.size >= this.limit) {
      this.old = this.young;
      this.young = new Map();
    }
    return kept;
  }

  has(s: string): boolean {
    return this.young.has(s) || this.old.has(s);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}

/**
 * Shares the strings of `obj` in place and returns it. Only objects and arrays that are not frozen are changed: the
 * caller hands over what it just parsed (or a shallow copy of it), before freezing it for the cache.
 */
export function shareStrings<T>(obj: T, pool: StringPool): T {
  const seen = new Map<string, string>();
  const one = (s: string): string => {
    const earlier = seen.get(s);
    if (earlier !== undefined) return earlier;
    const kept = s.length <= POOLED_MAX_LENGTH ? pool.share(s) : s;
    seen.set(kept, kept);
    return kept;
  };
  const walk = (o: unknown): void => {
    if (o === null || typeof o !== "object" || Object.isFrozen(o)) return;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const v: unknown = o[i];
        if (typeof v === "string") o[i] = one(v);
        else walk(v);
      }
      return;
    }
    const rec = o as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const v = rec[k];
      if (typeof v === "string") rec[k] = one(v);
      else walk(v);
    }
  };
  walk(obj);
  return obj;
}
