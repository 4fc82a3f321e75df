import { describe, expect, it } from "vitest";
import { MAX_NAME, objectRecordKey, recordName } from "./records.ts";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

describe("recordName", () => {
  it("is deterministic, readable and a valid ConfigMap name", () => {
    const n = recordName("binding", objectRecordKey("team-a", "orders"));
    expect(n).toBe(recordName("binding", "team-a/orders"));
    expect(n).toMatch(/^binding-team-a-orders-[0-9a-f]{20}$/);
    expect(n).toMatch(DNS_SUBDOMAIN);
  });

  it("keeps keys that read the same apart (the hash is over the exact key)", () => {
    const names = ["team-a/orders", "team/a-orders", "team/a.orders", "Team-A/orders"].map((k) =>
      recordName("binding", k),
    );
    expect(new Set(names).size).toBe(names.length);
    expect(recordName("binding", "a/b")).not.toBe(recordName("claim", "a/b"));
  });

  it("stays within 253 characters for the longest keys and for keys with nothing readable", () => {
    const long = recordName("jwtpolicy", objectRecordKey("n".repeat(63), "x".repeat(253)));
    expect(long.length).toBeLessThanOrEqual(MAX_NAME);
    expect(long).toMatch(DNS_SUBDOMAIN);
    const arm = `/subscriptions/${"0".repeat(36)}/resourceGroups/${"r".repeat(90)}/providers/Microsoft.Logic/workflows/${"w".repeat(80)}`;
    const claim = recordName("claim", arm.toLowerCase());
    expect(claim.length).toBeLessThanOrEqual(MAX_NAME);
    expect(claim).toMatch(DNS_SUBDOMAIN);
    expect(recordName("claim", "///")).toMatch(/^claim-[0-9a-f]{20}$/);
  });

  it("refuses a kind that is not a short DNS label", () => {
    expect(() => recordName("Binding", "a/b")).toThrow(/not a short DNS label/);
  });
});
