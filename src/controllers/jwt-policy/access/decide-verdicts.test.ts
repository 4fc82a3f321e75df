import { describe, expect, it } from "vitest";
import { MAX_ACCESS_VERDICTS } from "../../../api/v1alpha1/index.ts";
import type { ChainDocuments } from "./decide-access.ts";
import type { TokenInput } from "./decide-token.ts";
import { decideAccess, type OperationChains } from "./decide-verdicts.ts";

const TID = "11111111-1111-1111-1111-111111111111";
const token = (over: Partial<TokenInput> = {}): TokenInput => ({
  version: 1,
  tenantId: TID,
  principalId: "22222222-2222-2222-2222-222222222222",
  apiAppId: "44444444-4444-4444-4444-444444444444",
  requestedResource: "api://orders",
  roles: [],
  ...over,
});
const rule = (aud: string) =>
  `<policies><inbound><base /><validate-jwt header-name="Authorization">` +
  `<openid-config url="https://login.microsoftonline.com/${TID}/v2.0/.well-known/openid-configuration" />` +
  `<audiences><audience>${aud}</audience></audiences>` +
  `<issuers><issuer>https://sts.windows.net/${TID}/</issuer><issuer>https://login.microsoftonline.com/${TID}/v2.0</issuer></issuers>` +
  `</validate-jwt></inbound></policies>`;
const chain = (apiXml: string, product?: { id: string; xml?: string }): ChainDocuments => ({
  api: { id: "orders", xml: apiXml },
  operation: { id: "create" },
  fragments: {},
  ...(product ? { product } : {}),
});
const op = (name: string, ...chains: ChainDocuments[]): OperationChains => ({ operation: name, chains });

describe("decideAccess", () => {
  it("True when every operation admits the token", () => {
    const r = decideAccess(
      {
        kind: "observed",
        operations: 1,
        evaluated: [op("orders/create", chain(rule("api://orders")))],
        tokens: [token()],
      },
      3,
    );
    expect(r.condition).toMatchObject({
      type: "AccessVerified",
      status: "True",
      reason: "AccessAllowed",
      observedGeneration: 3,
    });
    expect(r.status).toMatchObject({
      allowed: 1,
      blocked: 0,
      verdicts: [{ operation: "orders/create", verdict: "Allowed" }],
    });
  });

  it("False when one product's chain refuses, naming the product, even if another product admits", () => {
    const r = decideAccess(
      {
        kind: "observed",
        operations: 1,
        evaluated: [
          op(
            "orders/create",
            chain(rule("api://orders"), { id: "free" }),
            chain(rule("api://orders"), { id: "gold", xml: rule("api://gold") }),
          ),
        ],
        tokens: [token()],
      },
      undefined,
    );
    expect(r.condition.status).toBe("False");
    expect(r.condition.message).toContain('product "gold"');
    expect(r.status?.verdicts[0]).toMatchObject({ verdict: "Blocked" });
  });

  it("the best token counts: a v2 API token that fits admits though the v1 one does not", () => {
    const r = decideAccess(
      {
        kind: "observed",
        operations: 1,
        evaluated: [op("orders/create", chain(rule("44444444-4444-4444-4444-444444444444")))],
        tokens: [token(), token({ version: 2 })],
      },
      undefined,
    );
    expect(r.condition.status).toBe("True");
  });

  it("bounds the verdict list, blocked first, and counts every operation", () => {
    const evaluated = Array.from({ length: 25 }, (_, i) =>
      op(`orders/op${i}`, chain(rule(i === 24 ? "api://other" : "api://orders"))),
    );
    const r = decideAccess({ kind: "observed", operations: 40, evaluated, tokens: [token()] }, undefined);
    expect(r.status?.verdicts).toHaveLength(MAX_ACCESS_VERDICTS);
    expect(r.status?.verdicts[0]).toMatchObject({ operation: "orders/op24", verdict: "Blocked" });
    expect(r.status).toMatchObject({ operations: 40, evaluated: 25, blocked: 1, allowed: 24 });
    expect(r.condition.message).toContain("1 of 25");
  });

  it("Unknown with the reason when nothing could be read", () => {
    const r = decideAccess({ kind: "unavailable", reason: "NoBinding", message: "no bindingRef" }, undefined);
    expect(r.condition).toMatchObject({ status: "Unknown", reason: "NoBinding" });
    expect(r.status).toBeUndefined();
  });
});
