import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifests } from "./manifests.ts";
import { unifiedDiff } from "./diff.ts";

const B = (name: string) =>
  `apiVersion: identity.logicapp.dev/v1alpha1\nkind: LogicAppIdentityBinding\nmetadata: {name: ${name}, namespace: a}\nspec: {}\n`;

describe("loadManifests", () => {
  it("reads directories recursively, multi-document files and stdin; skips other kinds; keeps Namespaces", () => {
    const dir = mkdtempSync(join(tmpdir(), "plan-manifests-"));
    mkdirSync(join(dir, "sub"));
    writeFileSync(
      join(dir, "a.yaml"),
      `${B("one")}---\n${B("two")}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n`,
    );
    writeFileSync(join(dir, "sub", "b.yml"), B("three"));
    writeFileSync(join(dir, "sub", "notes.txt"), "not yaml: [");
    const r = loadManifests(
      [dir, "-"],
      () => `apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n${B("four")}`,
    );
    expect(r.errors).toEqual([]);
    expect(r.manifests.map((m) => m.object.metadata.name)).toEqual(["one", "two", "three", "four"]);
    expect(r.manifests[1]!.source).toBe(`${join(dir, "a.yaml")}#2`);
    expect(r.skipped).toBe(1);
    expect(r.namespaces.map((n) => n.metadata.name)).toEqual(["a"]);
  });

  it("says what is wrong and what to do: a missing path, YAML that does not parse, an object without a name", () => {
    const r = loadManifests(
      ["/no/such/dir", "-"],
      () => `a: [\n---\napiVersion: identity.logicapp.dev/v1alpha1\nkind: ApimJwtPolicy\nmetadata: {}\n`,
    );
    expect(r.errors[0]).toMatch(/no such file or directory — check the -f path/);
    expect(r.errors[1]).toMatch(/^stdin#1: YAML does not parse/);
    expect(r.errors[2]).toBe("stdin#2: ApimJwtPolicy needs metadata.name");
  });
});

describe("unifiedDiff", () => {
  it("shows only the changed lines with context", () => {
    const before = [
      "<policies>",
      "  <inbound>",
      "    <base />",
      "    <rate-limit />",
      "  </inbound>",
      "</policies>",
    ].join("\n");
    const after = before.replace("    <base />", '    <base />\n    <include-fragment fragment-id="f" />');
    expect(unifiedDiff(before, after, "policy", 1)).toBe(
      [
        "--- policy (Azure now)",
        "+++ policy (after apply)",
        "@@ ... @@",
        "     <base />",
        '+    <include-fragment fragment-id="f" />',
        "     <rate-limit />",
      ].join("\n"),
    );
    expect(unifiedDiff(before, before, "policy")).toBe("");
  });
});
