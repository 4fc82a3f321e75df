import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkRuleInput,
  renderFragment,
  renderValidateJwt,
  UnsafeRuleInputError,
  type ValidateJwtInput,
} from "./render.ts";
import { attributeValue, decodeEntities, elements, parsePolicyXml, type XmlElement } from "./xml.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const base: ValidateJwtInput = { tenantId: TENANT, audiences: ["api://orders"] };

function tree(xml: string): XmlElement[] {
  const r = parsePolicyXml(xml, null);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return elements(r.doc);
}

function texts(xml: string, name: string): string[] {
  return tree(xml)
    .filter((e) => e.name === name)
    .map((e) => decodeEntities(xml.slice(e.contentStart, e.contentEnd)));
}

describe("renderValidateJwt", () => {
  it("defaults: openid-config, both issuers, 401, Bearer, no required-claims", () => {
    const xml = renderValidateJwt(base);
    const root = tree(xml)[0]!;
    expect(root.name).toBe("validate-jwt");
    expect(attributeValue(root, "header-name")).toBe("Authorization");
    expect(attributeValue(root, "failed-validation-httpcode")).toBe("401");
    expect(attributeValue(root, "require-scheme")).toBe("Bearer");
    expect(
      attributeValue(
        tree(xml).find((e) => e.name === "openid-config")!,
        "url",
      ),
    ).toBe(`https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration`);
    expect(texts(xml, "issuer")).toEqual([
      `https://sts.windows.net/${TENANT}/`,
      `https://login.microsoftonline.com/${TENANT}/v2.0`,
    ]);
    expect(texts(xml, "audience")).toEqual(["api://orders"]);
    expect(xml).not.toContain("required-claims");
  });

  it.each<[string, ValidateJwtInput, Record<string, string[]>]>([
    [
      "roles sorted and de-duplicated",
      { ...base, requiredRoles: ["Write", "Read", "Write"] },
      { value: ["Read", "Write"], claim: ["roles"] },
    ],
    [
      "pinned principal adds an oid claim after roles",
      { ...base, requiredRoles: ["Read"], callerPrincipalId: "p-1" },
      { value: ["Read", "p-1"], claim: ["roles", "oid"] },
    ],
    [
      "pinned principal without roles",
      { ...base, callerPrincipalId: "p-1" },
      { value: ["p-1"], claim: ["oid"] },
    ],
    [
      "audiences sorted and de-duplicated",
      { ...base, audiences: ["api://b", "00000000-0000-0000-0000-00000000000a", "api://b"] },
      { audience: ["00000000-0000-0000-0000-00000000000a", "api://b"] },
    ],
    [
      "explicit issuers replace the defaults",
      { ...base, issuers: ["https://i/2", "https://i/1"] },
      { issuer: ["https://i/1", "https://i/2"] },
    ],
  ])("%s", (_name, input, expected) => {
    const xml = renderValidateJwt(input);
    for (const [el, values] of Object.entries(expected)) {
      if (el === "claim") {
        expect(
          tree(xml)
            .filter((e) => e.name === "claim")
            .map((e) => attributeValue(e, "name")),
        ).toEqual(values);
        for (const c of tree(xml).filter((e) => e.name === "claim"))
          expect(attributeValue(c, "match")).toBe("any");
      } else expect(texts(xml, el)).toEqual(values);
    }
  });

  it("custom code, message and openid-config url", () => {
    const xml = renderValidateJwt({
      ...base,
      openIdConfigUrl: "https://login.example/.well-known/openid-configuration",
      failedValidation: { httpCode: 403, message: "Nope" },
    });
    const root = tree(xml)[0]!;
    expect(attributeValue(root, "failed-validation-httpcode")).toBe("403");
    expect(attributeValue(root, "failed-validation-error-message")).toBe("Nope");
    expect(xml).toContain('<openid-config url="https://login.example/.well-known/openid-configuration" />');
  });

  it("is deterministic and order-independent", () => {
    const a = renderValidateJwt({ ...base, audiences: ["x", "y"], requiredRoles: ["r2", "r1"] });
    const b = renderValidateJwt({ ...base, audiences: ["y", "x", "x"], requiredRoles: ["r1", "r2"] });
    expect(a).toBe(b);
    // The fingerprint hashes this rendering (jwt-policy/kind.ts), so equal renderings are equal fingerprints.
    expect(renderValidateJwt({ ...base, audiences: ["x", "y"] })).toBe(
      renderValidateJwt({ ...base, audiences: ["y", "x"] }),
    );
    expect(renderValidateJwt(base)).not.toBe(renderValidateJwt({ ...base, callerPrincipalId: "p" }));
  });

  const hostile = [
    "</audience></audiences><audience>evil",
    "a & b < c > d",
    `"quoted" and 'single'`,
    "]]><!-- x -->",
    "<![CDATA[ x ]]>",
    "x @(context.Variables) y",
    "tab\there\nnewline\r",
    "&amp; already escaped",
    "<?pi ?>",
  ];
  it.each(hostile)("hostile value %j cannot change the structure", (v) => {
    const normal = renderValidateJwt({ ...base, requiredRoles: ["r"], failedValidation: { message: "m" } });
    const xml = renderValidateJwt({
      ...base,
      audiences: [v],
      requiredRoles: [v],
      callerPrincipalId: v,
      failedValidation: { message: v },
    });
    expect(tree(xml).map((e) => e.name)).toEqual(
      tree(normal)
        .map((e) => e.name)
        .concat(["claim", "value"]),
    );
    expect(texts(xml, "audience")).toEqual([v]);
    expect(texts(xml, "value")).toEqual([v, v]);
    expect(attributeValue(tree(xml)[0]!, "failed-validation-error-message")).toBe(v);
    expect(xml).not.toContain("<!--");
    expect(xml).not.toContain("]]>");
  });

  it.each([
    ["@(context.Request.Body)", 'starts with "@"'],
    ["  @{ return 1; }", 'starts with "@"'],
    ["@literal", 'starts with "@"'],
    ["{{secret-named-value}}", "named-value"],
    ["bad\u0000char", "character XML cannot carry"],
  ])("refuses %j (%s)", (v, why) => {
    for (const input of [
      { ...base, failedValidation: { message: v } },
      { ...base, audiences: [v] },
      { ...base, requiredRoles: [v] },
      { ...base, callerPrincipalId: v },
    ]) {
      expect(checkRuleInput(input).join()).toContain(why);
      expect(() => renderValidateJwt(input)).toThrow(UnsafeRuleInputError);
    }
  });

  it("refuses no audience, a bad status code and an empty tenant", () => {
    expect(checkRuleInput({ ...base, audiences: [] })).toEqual([
      "no audience: validate-jwt needs at least one",
    ]);
    expect(checkRuleInput({ ...base, failedValidation: { httpCode: 200 } })).toHaveLength(1);
    expect(checkRuleInput({ ...base, tenantId: " " })).toHaveLength(1);
  });

  it("property: any safe values round-trip through escaping unchanged", () => {
    const safe = fc
      .string({ minLength: 1, maxLength: 30 })
      .filter((s) => checkRuleInput({ ...base, audiences: [s] }).length === 0);
    fc.assert(
      fc.property(fc.uniqueArray(safe, { minLength: 1, maxLength: 4 }), safe, (auds, msg) => {
        const xml = renderValidateJwt({ ...base, audiences: auds, failedValidation: { message: msg } });
        expect([...texts(xml, "audience")].sort()).toEqual([...new Set(auds)].filter((a) => a !== "").sort());
        expect(attributeValue(tree(xml)[0]!, "failed-validation-error-message")).toBe(msg);
      }),
      { numRuns: 300 },
    );
  });
});

describe("renderFragment", () => {
  it("wraps the rule in <fragment>, indented", () => {
    const xml = renderFragment(base);
    expect(xml.startsWith("<fragment>\n    <validate-jwt ")).toBe(true);
    expect(xml.endsWith("\n    </validate-jwt>\n</fragment>")).toBe(true);
    expect(
      tree(xml)
        .map((e) => e.name)
        .slice(0, 2),
    ).toEqual(["fragment", "validate-jwt"]);
  });
});
