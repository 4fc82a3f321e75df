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
});
