import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { withoutManagedFields } from "./informer.ts";

describe("withoutManagedFields", () => {
  it("drops managedFields and keeps every other field, without touching the original", () => {
    const obj = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "LogicAppIdentityBinding",
      metadata: {
        name: "a",
        namespace: "n",
        resourceVersion: "7",
        finalizers: ["f"],
        managedFields: [{ manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": {} } }],
      },
      spec: { x: 1 },
    };
    const out = withoutManagedFields(obj);
    expect(out).toEqual({
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: { name: "a", namespace: "n", resourceVersion: "7", finalizers: ["f"] },
      spec: { x: 1 },
    });
    expect(obj.metadata.managedFields).toHaveLength(1);
  });

  it("returns an object without managedFields as it is", () => {
    const obj = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" }, spec: {} };
    expect(withoutManagedFields(obj)).toBe(obj);
  });

  it("drops kubectl's last-applied-configuration and keeps every other annotation", () => {
    const obj = {
      apiVersion: "v1",
      kind: "ConfigMap",
      spec: {},
      metadata: {
        name: "a",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": '{"big":true}', keep: "me" },
      },
    };
    expect(withoutManagedFields(obj).metadata).toEqual({ name: "a", annotations: { keep: "me" } });
    const only = {
      ...obj,
      metadata: { name: "b", annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" } },
    };
    expect(withoutManagedFields(only).metadata).toStrictEqual({ name: "b" });
    expect(Object.keys(withoutManagedFields(obj).metadata)).toEqual(["name", "annotations"]);
    expect(obj.metadata.annotations.keep).toBe("me");
  });

  it("builds the metadata V8 keeps as a fast object: a `delete` made every cached metadata a hash table", () => {
    // V8's own answer (%HasFastProperties), in a child process: natives syntax cannot be enabled in a test worker.
    const informer = fileURLToPath(new URL("./informer.ts", import.meta.url));
    const script = `
      import { withoutManagedFields } from ${JSON.stringify(informer)};
      const served = JSON.parse(JSON.stringify({
        apiVersion: "v1", kind: "X", spec: {},
        metadata: { name: "a", namespace: "n", uid: "u", resourceVersion: "1", generation: 1,
          creationTimestamp: "2026-12-04T00:00:00Z", finalizers: ["f"], managedFields: [{ manager: "m" }],
          annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" } },
      }));
      console.log(JSON.stringify([%HasFastProperties(served.metadata),
        %HasFastProperties(withoutManagedFields(served).metadata)]));`;
    const out = execFileSync(
      process.execPath,
      ["--allow-natives-syntax", "--input-type=module", "-e", script],
      {
        encoding: "utf8",
      },
    );
    expect(JSON.parse(out)).toEqual([true, true]);
  });
});
