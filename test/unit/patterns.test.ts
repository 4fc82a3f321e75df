import { describe, expect, it } from "vitest";
import { matches, patterns } from "../../src/api/v1alpha1/patterns.ts";

const SUB = "00000000-0000-0000-0000-0000000000a1";
describe("ARM ID patterns (shared with the CRD schema)", () => {
  it.each([
    [
      "logicAppId",
      `/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.Logic/workflows/orders`,
      true,
    ],
    [
      "logicAppId",
      `/subscriptions/${SUB}/resourcegroups/rg-1/providers/microsoft.logic/workflows/orders`,
      true,
    ],
    [
      "logicAppId",
      `/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.Web/sites/orders-std`,
      true,
    ],
    ["logicAppId", `/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.KeyVault/vaults/kv`, false],
    ["armScope", `/subscriptions/${SUB}`, true],
    ["armScope", `/subscriptions/${SUB}/resourceGroups/rg`, true],
    [
      "armScope",
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/queues/q`,
      true,
    ],
    ["armScope", "/subscriptions/not-a-guid", false],
    ["role", "Key Vault Secrets User", true],
    ["role", "/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6", true],
    ["role", "bad\nname", false],
    ["apiReference", "api://orders", true],
    ["apiReference", "https://contoso.com/orders", true],
    ["apiReference", "55555555-5555-5555-5555-555555555555", true],
    ["apiReference", "orders", false],
    ["appRoleValue", "Orders.Write", true],
    ["appRoleValue", "Add Role", false],
  ] as const)("%s %s → %s", (name, value, ok) => {
    expect(matches(patterns[name], value)).toBe(ok);
  });
});
