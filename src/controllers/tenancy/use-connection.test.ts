import { describe, expect, it } from "vitest";
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import { authorize } from "./authorize.ts";

const SUB = "/subscriptions/11111111-2222-3333-4444-555555555555";
const CONN = `${SUB}/resourceGroups/rg/providers/Microsoft.Web/connections/sql`;

const policy = (scopes: string[]): AzureAccessPolicy => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "AzureAccessPolicy",
  metadata: { name: "p" },
  spec: { namespaces: { names: ["team"] }, logicApps: [SUB], scopes },
});
const input = (policies: AzureAccessPolicy[]) => ({ policies, namespace: { name: "team" } });

describe("useConnection (issue 14): a connection's access policy is access to that resource, governed by spec.scopes", () => {
  it.each([
    { name: "within a resource group scope", scopes: [`${SUB}/resourceGroups/rg`], allowed: true },
    { name: "the connection itself", scopes: [CONN], allowed: true },
    { name: "another resource group", scopes: [`${SUB}/resourceGroups/other`], allowed: false },
    { name: "no scopes at all", scopes: [], allowed: false },
  ])("$name", ({ scopes, allowed }) => {
    const v = authorize(input([policy(scopes)]), { kind: "useConnection", connectionId: CONN });
    expect(v.allowed).toBe(allowed);
    if (!v.allowed) expect(v).toMatchObject({ reason: "NotAllowed", rule: "spec.scopes" });
  });

  it("no policy selects the namespace: NoAccessPolicy; a malformed ID: InvalidArmId", () => {
    expect(authorize(input([]), { kind: "useConnection", connectionId: CONN })).toMatchObject({
      reason: "NoAccessPolicy",
    });
    expect(
      authorize(input([policy([SUB])]), { kind: "useConnection", connectionId: `${CONN}/../x` }),
    ).toMatchObject({ allowed: false, reason: "InvalidArmId" });
  });

  it("permissive mode allows it", () => {
    expect(
      authorize({ ...input([]), mode: "permissive" }, { kind: "useConnection", connectionId: CONN }).allowed,
    ).toBe(true);
  });
});
