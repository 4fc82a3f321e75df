import { describe, expect, it } from "vitest";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import type { InformerHandler } from "./informer.ts";
import { KeyIndex } from "./key-index.ts";

type Obj = KubeObject & { spec: { refs: string[] } };
const obj = (name: string, ...refs: string[]): Obj => ({
  apiVersion: "v1",
  kind: "X",
  metadata: { name, namespace: "ns" },
  spec: { refs },
});

function index() {
  let handler: InformerHandler<Obj> | undefined;
  const idx = new KeyIndex<Obj>({ on: (h) => (handler = h) }, (o) => o.spec.refs);
  // As an informer emits: an update carries the object it replaces; a delete, the last object known.
  const cache = new Map<string, Obj>();
  const emit = (type: "add" | "update" | "delete", o: Obj) => {
    const old = cache.get(o.metadata.name);
    if (type === "delete") {
      cache.delete(o.metadata.name);
      handler!(type, old ?? o);
    } else {
      cache.set(o.metadata.name, o);
      handler!(type, o, type === "update" ? old : undefined);
    }
  };
  return { idx, emit };
}

describe("KeyIndex", () => {
  it("answers the dependents of a reference as one, two, one and no objects depend on it", () => {
    const { idx, emit } = index();
    emit("add", obj("a", "x"));
    expect(idx.keysFor(["x"])).toEqual(["ns/a"]);
    emit("add", obj("b", "x", "y"));
    expect(idx.keysFor(["x"]).sort()).toEqual(["ns/a", "ns/b"]);
    expect(idx.keysFor(["y"])).toEqual(["ns/b"]);
    emit("update", obj("a", "z"));
    expect(idx.keysFor(["x"])).toEqual(["ns/b"]);
    expect(idx.keysFor(["z", "y"]).sort()).toEqual(["ns/a", "ns/b"]);
    emit("add", obj("c", "x"));
    emit("delete", obj("b", "x", "y"));
    expect(idx.keysFor(["x"])).toEqual(["ns/c"]);
    expect(idx.keysFor(["y"])).toEqual([]);
    emit("delete", obj("c", "x"));
    expect(idx.keysFor(["x"])).toEqual([]);
    expect(idx.size()).toBe(1);
  });

  it("counts an object whose references repeat once", () => {
    const { idx, emit } = index();
    emit("add", obj("a", "x", "x"));
    emit("update", obj("a", "x"));
    expect(idx.keysFor(["x"])).toEqual(["ns/a"]);
    emit("delete", obj("a", "x"));
    expect(idx.keysFor(["x"])).toEqual([]);
  });

  it("forgets the references an object had before its update, computed from the object the update replaced", () => {
    const { idx, emit } = index();
    emit("add", obj("a", "x", "y"));
    emit("update", obj("a", "y", "z"));
    emit("update", obj("a", "w"));
    expect(idx.keysFor(["x"])).toEqual([]);
    expect(idx.keysFor(["y"])).toEqual([]);
    expect(idx.keysFor(["z"])).toEqual([]);
    expect(idx.keysFor(["w"])).toEqual(["ns/a"]);
    expect(idx.size()).toBe(1);
  });
});
