/**
 * Snapshots made by lists that take a while (a subscription's Logic Apps and role assignments, an API's app-role
 * assignments), shared by every caller that asks while one is in flight, with the writes made meanwhile replayed
 * onto the list's result so none is lost (read-your-writes). `fresh` starts a new list even with one in flight
 * (after a 409 the list must have started after it): lists overlap then, so each keeps its own journal, every write
 * goes to all of them, and a list that started before the installed snapshot's is not installed over it.
 */
export type Change<S> = (s: S) => void;

export class SharedLoads<S extends { takenAt: number }> {
  /** The installed snapshot per key: read freely, written only through `load` and `record`. */
  readonly installed = new Map<string, S>();
  readonly #inFlight = new Map<string, Promise<S | undefined>>();
  readonly #journals = new Map<string, Set<Change<S>[]>>();

  /**
   * The list in flight for `key`, or a new one. `list` gets `replay`, which applies the writes journaled since it
   * started; it returns the snapshot to install (replayed or not), or undefined to install nothing.
   */
  load(
    key: string,
    list: (replay: (s: S) => S) => Promise<S | undefined>,
    opts: { fresh?: boolean } = {},
  ): Promise<S | undefined> {
    const inFlight = this.#inFlight.get(key);
    if (inFlight && !opts.fresh) return inFlight;
    const journal: Change<S>[] = [];
    let journals = this.#journals.get(key);
    if (!journals) this.#journals.set(key, (journals = new Set()));
    journals.add(journal);
    const replay = (s: S): S => {
      for (const change of journal) change(s);
      return s;
    };
    const p: Promise<S | undefined> = (async () => {
      const snap = await list(replay);
      if (!snap) return undefined;
      const current = this.installed.get(key);
      if (current && current.takenAt > snap.takenAt) return current;
      this.installed.set(key, snap);
      return snap;
    })().finally(() => {
      journals.delete(journal);
      if (journals.size === 0 && this.#journals.get(key) === journals) this.#journals.delete(key);
      if (this.#inFlight.get(key) === p) this.#inFlight.delete(key);
    });
    if (!inFlight) this.#inFlight.set(key, p);
    return p;
  }

  /** Applies a write to the installed snapshot now and to every list still in flight. */
  record(key: string, change: Change<S>): void {
    const snap = this.installed.get(key);
    if (snap) change(snap);
    for (const journal of this.#journals.get(key) ?? []) journal.push(change);
  }
}
