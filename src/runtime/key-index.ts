/**
 * A reverse index from external references to object keys, kept current from an informer cache: `refsOf` maps an
 * object to what it depends on outside Kubernetes (opaque strings; the runtime knows nothing of what they name), and
 * `keysFor` answers which objects to enqueue when an external source reports those references changed.
 */
import type { InformerHandler } from "./informer.ts";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { keyOf, keyToString } from "./reconciler.ts";
import { StringPool } from "./string-pool.ts";

export interface IndexSource<T extends KubeObject> {
  on(handler: InformerHandler<T>): void;
}

export class KeyIndex<T extends KubeObject = KubeObject> {
  readonly #refsOf: (obj: Readonly<T>) => string[];
  /**
   * The one key that depends on a reference, or a Set when several do. Most references (a Logic App, a principal)
   * have one dependent: a Set for each would cost ≈ 130 bytes per reference and object (docs/benchmarks.md).
   */
  readonly #byRef = new Map<string, string | Set<string>>();
  /**
   * Objects the source holds. What each depends on is not kept: `refsOf` is a pure function of the object, and the
   * informer hands the previous object with every update and delete, so its references are computed again to remove
   * them (a key → references map cost ≈ 120 bytes per object and index, docs/benchmarks.md).
   */
  #size = 0;
  /** References many objects share (an API) are one string, not one per object. */
  readonly #refs = new StringPool();

  constructor(source: IndexSource<T>, refsOf: (obj: Readonly<T>) => string[]) {
    this.#refsOf = refsOf;
    // An informer hands an update the object it replaces and a delete the last object known (InformerHandler).
    source.on((type, obj, old) => {
      const key = keyToString(keyOf(obj));
      if (type === "add") this.#size++;
      else if (type === "delete") this.#size--;
      if (type !== "add") this.#remove(key, type === "delete" ? obj : old);
      if (type !== "delete") this.#add(key, obj);
    });
  }

  /** Keys of the objects that depend on any of `refs`. */
  keysFor(refs: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const r of refs) {
      const keys = this.#byRef.get(r);
      if (typeof keys === "string") out.add(keys);
      else for (const k of keys ?? []) out.add(k);
    }
    return [...out];
  }

  size(): number {
    return this.#size;
  }

  #refsOfSafe(obj: Readonly<T>): string[] | undefined {
    try {
      return [...new Set(this.#refsOf(obj))];
    } catch {
      return undefined; // a malformed object depends on nothing; its own watch event still reconciles it
    }
  }

  #add(key: string, obj: Readonly<T>): void {
    const refs = this.#refsOfSafe(obj);
    if (refs === undefined) return;
    for (const found of refs) {
      const r = this.#refs.share(found);
      const keys = this.#byRef.get(r);
      if (keys === undefined) this.#byRef.set(r, key);
      else if (typeof keys === "string") {
        if (keys !== key) this.#byRef.set(r, new Set([keys, key]));
      } else keys.add(key);
    }
  }

  #remove(key: string, old: Readonly<T> | undefined): void {
    if (old === undefined) return;
    const refs = this.#refsOfSafe(old);
    if (refs === undefined) return;
    for (const r of refs) {
      const keys = this.#byRef.get(r);
      if (keys === key) this.#byRef.delete(r);
      else if (keys instanceof Set) {
        keys.delete(key);
        if (keys.size === 1) this.#byRef.set(r, keys.values().next().value!);
      }
    }
  }
}
