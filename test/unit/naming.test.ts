import { describe, expect, it } from "vitest";
import { fragmentId, roleAssignmentName, uuidV5 } from "../../src/azure/naming.ts";

describe("deterministic names", () => {
  it("uuidV5 matches the RFC 9562 test vector", () => {
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });

  it("role assignment names depend on scope, role and principal, not on case", () => {
    const scope = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg";
    const role = "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7";
    const a = roleAssignmentName(scope, role, "11111111-1111-1111-1111-111111111111");
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(roleAssignmentName(scope.toUpperCase(), role, "11111111-1111-1111-1111-111111111111")).toBe(a);
    // A recreated identity gets a new name, so Azure never answers RoleAssignmentUpdateNotPermitted.
    expect(roleAssignmentName(scope, role, "22222222-2222-2222-2222-222222222222")).not.toBe(a);
  });

  it("fragment IDs are valid APIM identifiers of at most 80 characters", () => {
    expect(fragmentId("team-orders", "orders-api-jwt")).toBe("laio-team-orders-orders-api-jwt");
    const long = fragmentId("n".repeat(63), "x".repeat(200));
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(/^[A-Za-z0-9-]+$/);
    expect(fragmentId("n".repeat(63), "x".repeat(200))).toBe(long);
    expect(fragmentId("n".repeat(63), "y".repeat(200))).not.toBe(long);
  });
});
