import { describe, expect, it } from "vitest";
import { appRoleId, parseRegistrationClaim } from "./kind.ts";

describe("appRoleId", () => {
  it("is a GUID, stable for (namespace, name, value) and different otherwise", () => {
    const id = appRoleId("team-a", "inventory", "AddRole");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(appRoleId("team-a", "inventory", "AddRole")).toBe(id);
    expect(appRoleId("team-a", "inventory", "ReadRole")).not.toBe(id);
    expect(appRoleId("team-b", "inventory", "AddRole")).not.toBe(id);
    // The separator keeps (a, bc) and (ab, c) apart.
    expect(appRoleId("a", "bc", "x")).not.toBe(appRoleId("ab", "c", "x"));
  });
});

describe("parseRegistrationClaim", () => {
  it("refuses a record without its fields", () => {
    expect(() => parseRegistrationClaim({ applicationId: "a" })).toThrow(/registration claim/);
    const ok = { applicationId: "a", appId: "b", namespace: "n", name: "m", uid: "u", created: false };
    expect(parseRegistrationClaim(ok)).toEqual(ok);
  });
});
