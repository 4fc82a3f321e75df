/**
 * A reverse index from external references to object keys, kept current from an informer cache: `refsOf` maps an
 * object to what it depends on outside Kubernetes (opaque strings; the runtime knows nothing of what they name), and
 * `keysFor` answers which objects to enqueue when an external source reports those references changed.
 */
import type { InformerHandler } from "./informer.ts";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { keyOf, keyToString } from "./reconciler.ts";

export interface IndexSource<T extends KubeObject> {
  on(handler: InformerHandler<T>): void;
}

export class KeyIndex<T extends KubeObject = KubeObject> {
  readonly #refsOf: (obj: Readonly<T>) => string[];
  readonly #byRef = new Map<string, Set<string>>();
  readonly #byKey = new Map<string, string[]>();

  constructor(source: IndexSource<T>, refsOf: (obj: Readonly<T>) => string[]) {
    this.#refsOf = refsOf;
    source.on((type, obj) => {
      const key = keyToString(keyOf(obj));
      this.#remove(key);
      if (type !== "delete") this.#add(key, obj);
    });
  }

  /** Keys of the objects that depend on any of `refs`. */
  keysFor(refs: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const r of refs) for (const k of this.#byRef.get(r) ?? []) out.add(k);
    return [...out];
  }

  size(): number {
    return this.#byKey.size;
  }

  #add(key: string, obj: Readonly<T>): void {
    let refs: string[];
    try {
      refs = [...new Set(this.#refsOf(obj))];
    } catch {
      return; // a malformed object depends on nothing; its own watch event still reconciles it
    }
    this.#byKey.set(key, refs);
    for (const r of refs) {
      let set = this.#byRef.get(r);
      if (!set) this.#byRef.set(r, (set = new Set()));
      set.add(key);
    }
  }

  #remove(key: string): void {
    for (const r of this.#byKey.get(key) ?? []) {
      const set = this.#byRef.get(r);
      set?.delete(key);
      if (set?.size === 0) this.#byRef.delete(r);
    }
    this.#byKey.delete(key);
  }
}
