import { describe, expect, it } from "vitest";
import { AzureError } from "../../azure/errors.ts";
import { describeFailure } from "./pass-failure.ts";

const az = (kind: AzureError["kind"], retryAfterMs?: number) =>
  new AzureError({
    kind,
    message: "boom",
    service: "arm-authorization",
    operation: "roleAssignments.create",
    ...(retryAfterMs ? { retryAfterMs } : {}),
  });

describe("describeFailure", () => {
  it.each([
    [
      "throttled",
      az("Throttled", 3000),
      false,
      {
        reason: "Throttled",
        eventReason: "Throttled",
        needsPerson: false,
        retryAfterMs: 3000,
        throttledService: "arm-authorization",
      },
    ],
    [
      "forbidden",
      az("Forbidden"),
      false,
      { reason: "AccessDenied", eventReason: "Rejected", needsPerson: true },
    ],
    [
      "invalid",
      az("Invalid"),
      false,
      { reason: "InvalidRequest", eventReason: "Rejected", needsPerson: true },
    ],
    [
      "transient",
      az("Transient"),
      false,
      { reason: "AzureUnavailable", eventReason: "AzureError", needsPerson: false },
    ],
    [
      "deletion blocked by a transient error",
      az("Transient"),
      true,
      { reason: "AzureUnavailable", eventReason: "DeletionBlocked" },
    ],
    [
      "deletion blocked by access denied",
      az("Forbidden"),
      true,
      { reason: "AccessDenied", eventReason: "DeletionBlocked", needsPerson: true },
    ],
    [
      "412 after the re-read budget",
      az("PreconditionFailed"),
      false,
      { reason: "ConcurrentEdit", eventReason: "AzureError", needsPerson: false },
    ],
    [
      "409 that is not an existing grant",
      az("Conflict"),
      false,
      { reason: "AzureConflict", eventReason: "AzureError", needsPerson: false },
    ],
    [
      "404 of something deleted mid-pass",
      az("NotFound"),
      false,
      { reason: "AzureResourceNotFound", eventReason: "AzureError", needsPerson: false },
    ],
    [
      "a bug",
      new Error("undefined is not a function"),
      false,
      { reason: "Error", eventReason: "AzureError", needsPerson: false },
    ],
  ])("%s", (_name, error, deleting, expected) => {
    const f = describeFailure(error, deleting);
    expect(f).toMatchObject(expected);
    if (error instanceof AzureError) expect(f.message).toBe("arm-authorization roleAssignments.create: boom");
  });
});

describe("describeFailure message", () => {
  it("names the call once when the adapter already did, and says what to do", () => {
    const e = new AzureError({
      kind: "PreconditionFailed",
      message: "arm-apim apiPolicy.createOrUpdate: 412 PreconditionFailed",
      service: "arm-apim",
      operation: "apiPolicy.createOrUpdate",
    });
    const f = describeFailure(e, false);
    expect(f.message).toBe("arm-apim apiPolicy.createOrUpdate: 412 PreconditionFailed");
    expect(f.hint).toContain("reading again");
  });
});
