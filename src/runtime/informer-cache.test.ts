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
});
