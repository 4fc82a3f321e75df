import { describe, expect, it } from "vitest";
import { SharedLoads } from "./shared-loads.ts";

interface Snap {
  takenAt: number;
  items: Set<string>;
}

/** A list the test finishes by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe("SharedLoads", () => {
  it("callers share the list in flight, and a write made meanwhile is in its result", async () => {
    const loads = new SharedLoads<Snap>();
    const g = gate();
    let lists = 0;
    const list = async (replay: (s: Snap) => Snap) => {
      lists++;
      await g.promise;
      return replay({ takenAt: 1, items: new Set(["listed"]) });
    };
    const a = loads.load("k", list);
    const b = loads.load("k", list);
    loads.record("k", (s) => s.items.add("written"));
    g.open();
    expect(await a).toBe(await b);
    expect(lists).toBe(1);
    expect([...loads.installed.get("k")!.items].sort()).toEqual(["listed", "written"]);
    // Once installed, a write applies to the snapshot at once.
    loads.record("k", (s) => s.items.add("later"));
    expect(loads.installed.get("k")!.items.has("later")).toBe(true);
  });

  it("a fresh list overlaps the shared one: both journal every write, and the older list is not installed over the newer", async () => {
    const loads = new SharedLoads<Snap>();
    const first = gate();
    const second = gate();
    const shared = loads.load("k", async (replay) => {
      await first.promise;
      return replay({ takenAt: 1, items: new Set() });
    });
    const fresh = loads.load(
      "k",
      async (replay) => {
        await second.promise;
        return replay({ takenAt: 2, items: new Set() });
      },
      { fresh: true },
    );
    loads.record("k", (s) => s.items.add("w"));
    second.open();
    expect([...(await fresh)!.items]).toEqual(["w"]);
    first.open();
    // The shared list started first: the newer snapshot stays installed and is what its callers get.
    expect(await shared).toBe(await fresh);
    expect(loads.installed.get("k")!.takenAt).toBe(2);
  });

  it("a list that installs nothing leaves the key free for the next load", async () => {
    const loads = new SharedLoads<Snap>();
    expect(await loads.load("k", async () => undefined)).toBeUndefined();
    expect(loads.installed.has("k")).toBe(false);
    const s = await loads.load("k", async (replay) => replay({ takenAt: 3, items: new Set() }));
    expect(s?.takenAt).toBe(3);
  });
});
