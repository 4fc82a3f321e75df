import { RestError, createHttpHeaders } from "@azure/core-rest-pipeline";
import type { PipelineRequest } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { AzureError } from "../errors.ts";
import { isAtOrAbove, odataString } from "./role-assignments.ts";
import {
  absentOn404,
  parseResourceId,
  subscriptionOf,
  toAzureError,
  withoutLeadingSlash,
} from "./transport.ts";

function restError(
  status: number | undefined,
  code: string | undefined,
  headers: Record<string, string> = {},
) {
  return new RestError("boom", {
    statusCode: status,
    code,
    response:
      status === undefined
        ? undefined
        : { status, headers: createHttpHeaders(headers), request: {} as PipelineRequest },
  });
}

describe("toAzureError", () => {
  it.each([
    [404, "ResourceNotFound", {}, "NotFound", undefined],
    [409, "RoleAssignmentExists", {}, "Exists", undefined],
    [400, "PrincipalNotFound", {}, "PrincipalNotFound", undefined],
    [412, "PreconditionFailed", {}, "PreconditionFailed", undefined],
    [429, "TooManyRequests", { "retry-after": "7" }, "Throttled", 7000],
    [503, "ServiceUnavailable", { "x-ms-retry-after-ms": "250" }, "Transient", 250],
    [403, "AuthorizationFailed", {}, "Forbidden", undefined],
    [400, "InvalidIdentity", {}, "Invalid", undefined],
    [409, "Conflict", {}, "Conflict", undefined],
  ] as const)("%i %s → %s", (status, code, headers, kind, retryAfterMs) => {
    const e = toAzureError(restError(status, code, headers), "arm-logic", "workflows.get");
    expect(e).toBeInstanceOf(AzureError);
    expect(e?.kind).toBe(kind);
    expect(e?.statusCode).toBe(status);
    expect(e?.code).toBe(code);
    expect(e?.retryAfterMs).toBe(retryAfterMs);
    expect(e?.service).toBe("arm-logic");
    expect(e?.operation).toBe("workflows.get");
  });

  it("treats a request that got no answer as Transient", () => {
    expect(toAzureError(restError(undefined, "ECONNRESET"), "graph", "x")?.kind).toBe("Transient");
    expect(toAzureError(restError(undefined, RestError.REQUEST_SEND_ERROR), "graph", "x")?.kind).toBe(
      "Transient",
    );
    expect(toAzureError(restError(200, RestError.PARSE_ERROR), "graph", "x")?.kind).toBe("Transient");
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(toAzureError(reset, "graph", "x")?.kind).toBe("Transient");
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect(toAzureError(abort, "graph", "x")?.kind).toBe("Transient");
  });

  it("leaves programming errors alone so they are not retried forever", () => {
    expect(toAzureError(new TypeError("x is undefined"), "graph", "x")).toBeUndefined();
  });

  it("absentOn404 turns only NotFound into undefined", async () => {
    const nf = toAzureError(restError(404, "NotFound"), "arm-msi", "get")!;
    await expect(absentOn404(Promise.reject(nf))).resolves.toBeUndefined();
    const th = toAzureError(restError(429, "TooManyRequests"), "arm-msi", "get")!;
    await expect(absentOn404(Promise.reject(th))).rejects.toBe(th);
  });
});

describe("ARM ids and scopes", () => {
  it("parses resource ids case-insensitively", () => {
    expect(
      parseResourceId("/subscriptions/S/resourcegroups/rg/providers/Microsoft.Logic/workflows/w"),
    ).toEqual({
      subscriptionId: "S",
      resourceGroup: "rg",
      type: "microsoft.logic/workflows",
      name: "w",
      children: [],
    });
    expect(parseResourceId("/subscriptions/S/resourceGroups/rg")).toBeUndefined();
    expect(subscriptionOf("subscriptions/abc/resourceGroups/x")).toBe("abc");
    expect(subscriptionOf("/providers/Microsoft.Management/managementGroups/m")).toBeUndefined();
    expect(withoutLeadingSlash("//subscriptions/a")).toBe("subscriptions/a");
  });

  it("decides at-or-above on path segments, not string prefixes", () => {
    const rg = "/subscriptions/s/resourceGroups/rg";
    expect(isAtOrAbove("/subscriptions/s", rg)).toBe(true);
    expect(isAtOrAbove(rg, rg.toUpperCase())).toBe(true);
    expect(isAtOrAbove("/", rg)).toBe(true);
    expect(isAtOrAbove("/subscriptions/s/resourceGroups/r", rg)).toBe(false);
    expect(isAtOrAbove(`${rg}/providers/Microsoft.KeyVault/vaults/v`, rg)).toBe(false);
  });

  it("escapes OData string literals", () => {
    expect(odataString("O'Brien")).toBe("'O''Brien'");
  });
});
