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
  return { idx, emit: (type: "add" | "update" | "delete", o: Obj) => handler!(type, o) };
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
});
