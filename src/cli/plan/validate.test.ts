import { describe, expect, it } from "vitest";
import { allCrds } from "../../api/v1alpha1/crds.ts";
import {
  ApiRegistrationSpecSchema,
  BindingSpecSchema,
  JwtPolicySpecSchema,
} from "../../api/v1alpha1/index.ts";
import { celRulesOf, LOCAL_CEL, NOT_LOCAL, validateAgainst } from "./validate.ts";

describe("local validation", () => {
  it("every CEL rule of the CRDs is evaluated locally or listed as not (so plan's claim stays true)", () => {
    const rules = celRulesOf(allCrds);
    expect(rules.size).toBeGreaterThan(0);
    for (const r of rules) expect(r in LOCAL_CEL || NOT_LOCAL.has(r), r).toBe(true);
  });

  it("reports schema errors and CEL verdicts with the field path", () => {
    const p = validateAgainst(BindingSpecSchema, { logicAppId: "nope", identity: { type: "Bogus" } }, "spec");
    expect(p.map((x) => x.path)).toEqual(["spec.logicAppId", "spec.identity.type"]);
    expect(p[1]!.message).toBe("must be one of SystemAssigned, UserAssigned");
    const jwt = validateAgainst(
      JwtPolicySpecSchema,
      {
        apimServiceId:
          "/subscriptions/8f2c7a1e-3b4d-4e5f-9a6b-7c8d9e0f1a2b/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim",
        target: { productId: "p", apiId: "a" },
        audiences: ["@(context.Request)"],
        tenantId: "5f0c2b8e-6d1a-4c3b-9e7f-a1b2c3d4e5f6",
      },
      "spec",
    );
    expect(jwt.map((x) => x.message)).toEqual(
      expect.arrayContaining([
        "target takes productId or apiId, not both",
        expect.stringMatching(/must not start with '@'/),
      ]),
    );
  });

  it("evaluates the ApiRegistration and app-role grant rules locally", () => {
    const logicAppId =
      "/subscriptions/8f2c7a1e-3b4d-4e5f-9a6b-7c8d9e0f1a2b/resourceGroups/rg/providers/Microsoft.Logic/workflows/wf";
    const api = { appId: "00000003-0000-0000-c000-000000000000" };
    const grant = (extra: Record<string, unknown>) => ({ appRole: "AddRole", ...extra });
    const msgs = (v: unknown) => validateAgainst(BindingSpecSchema, v, "spec").map((x) => x.message);
    const base = { logicAppId, identity: { type: "SystemAssigned" } };
    expect(
      msgs({ ...base, appRoleAssignments: [grant({ api, apiRegistrationRef: { name: "r" } })] }),
    ).toContain("an app role grant names its API by api or by apiRegistrationRef, exactly one of them");
    expect(msgs({ ...base, appRoleAssignments: [grant({})] })).toContain(
      "an app role grant names its API by api or by apiRegistrationRef, exactly one of them",
    );
    // Same grant twice with keys in another order: CEL map equality ignores order.
    expect(
      msgs({
        ...base,
        appRoleAssignments: [
          grant({ apiRegistrationRef: { name: "r" } }),
          { apiRegistrationRef: { name: "r" }, appRole: "AddRole" },
        ],
      }),
    ).toContain("each (api or apiRegistrationRef, appRole) pair appears once");
    expect(
      msgs({
        ...base,
        appRoleAssignments: [
          grant({ apiRegistrationRef: { name: "r" } }),
          grant({ apiRegistrationRef: { name: "s" } }),
        ],
      }),
    ).toEqual([]);
    const reg = (uris: string[]) =>
      validateAgainst(ApiRegistrationSpecSchema, { displayName: "Orders", identifierUris: uris }, "spec");
    expect(reg(["api://orders/"])).toContainEqual({
      path: "spec.identifierUris[0]",
      message: expect.stringMatching(/^an identifier URI must not end with '\/'/),
    });
    expect(reg(["api://orders"])).toEqual([]);
  });

  it("a valid spec has no problems", () => {
    expect(
      validateAgainst(
        BindingSpecSchema,
        {
          logicAppId:
            "/subscriptions/8f2c7a1e-3b4d-4e5f-9a6b-7c8d9e0f1a2b/resourceGroups/rg/providers/Microsoft.Logic/workflows/wf",
          identity: { type: "SystemAssigned" },
        },
        "spec",
      ),
    ).toEqual([]);
  });
});
