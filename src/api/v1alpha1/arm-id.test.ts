import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  armIdPatterns,
  breadth,
  isWithin,
  notBroaderThan,
  parseArmId,
  sameArmId,
  type Breadth,
} from "./arm-id.ts";
import { matches, patterns } from "./patterns.ts";

const SUB = "00000000-0000-0000-0000-0000000000a1";
const S = `/subscriptions/${SUB}`;
const RG = `${S}/resourceGroups/rg-a`;
const KV = `${RG}/providers/Microsoft.KeyVault/vaults/kv`;

describe("parseArmId", () => {
  it.each<[string, string, Breadth | RegExp]>([
    ["subscription", S, "subscription"],
    ["resource group", RG, "resourceGroup"],
    ["resource", KV, "resource"],
    ["child resource", `${RG}/providers/Microsoft.ServiceBus/namespaces/sb/queues/q`, "resource"],
    ["extension resource", `${KV}/providers/Microsoft.Insights/diagnosticSettings/d`, "resource"],
    ["subscription-level resource", `${S}/providers/Microsoft.Authorization/roleDefinitions/x`, "resource"],
    ["management group", "/providers/Microsoft.Management/managementGroups/mg-1", "managementGroup"],
    [
      "lower-case fixed segments",
      `/SUBSCRIPTIONS/${SUB}/resourcegroups/rg-a/PROVIDERS/Microsoft.Web/sites/x`,
      "resource",
    ],
    ["dot-dot segment", `${RG}/providers/x/../..`, /'\.\.' segment/],
    ["dot segment", `${RG}/./providers/Microsoft.Web/sites/x`, /'\.' segment/],
    ["dot-dot as the RG", `${S}/resourceGroups/..`, /'\.\.' segment/],
    ["percent", `${RG}%2Fproviders%2FMicrosoft.Web%2Fsites%2Fx`, /"%"/],
    ["question mark", `${RG}?api-version=1`, /"\?"/],
    ["hash", `${RG}#x`, /"#"/],
    ["backslash", `${RG}\\providers`, /"\\\\"/],
    ["space", `${S}/resourceGroups/rg a`, /" "/],
    ["tab", `${S}/resourceGroups/rg\ta`, /"\\t"/],
    ["newline", `${RG}\n`, /"\\n"/],
    ["empty segment", `${S}//resourceGroups/rg-a`, /empty segment/],
    ["trailing slash", `${RG}/`, /end with '\/'/],
    ["no leading slash", RG.slice(1), /start with '\/'/],
    ["empty", "", /empty/],
    ["not a GUID", "/subscriptions/abc", /GUID/],
    ["unknown root", "/tenants/x", /must start with/],
    ["RG ending in a dot", `${S}/resourceGroups/rg.`, /not a valid resource group/],
    ["providers missing", `${RG}/Microsoft.Web/sites/x`, /expected 'providers'/],
    ["type without name", `${RG}/providers/Microsoft.Web/sites`, /must be followed by a name/],
    ["provider without type", `${RG}/providers/Microsoft.Web`, /must be followed/],
    ["bad namespace", `${RG}/providers/web/sites/x`, /namespace/],
    ["RG without name", `${S}/resourceGroups`, /followed by the group's name/],
  ])("%s", (_name, input, expected) => {
    const r = parseArmId(input);
    if (typeof expected === "string") {
      expect(r.ok, r.ok ? "" : r.error).toBe(true);
      if (r.ok) expect(r.id.breadth).toBe(expected);
    } else {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(expected);
    }
  });

  it("normalises the case of fixed segments only", () => {
    const r = parseArmId(`/SUBSCRIPTIONS/${SUB}/RESOURCEGROUPS/Rg-A/Providers/Microsoft.Web/Sites/X`);
    expect(r.ok && r.id.text).toBe(
      `/subscriptions/${SUB}/resourceGroups/Rg-A/providers/Microsoft.Web/Sites/X`,
    );
    expect(r.ok && r.id.resourceGroup).toBe("Rg-A");
    expect(r.ok && r.id.providers).toEqual([
      { namespace: "Microsoft.Web", types: [{ type: "Sites", name: "X" }] },
    ]);
  });
});

describe("isWithin", () => {
  it.each<[string, string, boolean]>([
    [KV, RG, true],
    [RG, RG, true],
    [RG, S, true],
    [S, RG, false],
    [`${S}/resourceGroups/rg-ab`, RG, false],
    [`${S}/resourceGroups/rg-ab/providers/Microsoft.Web/sites/x`, RG, false],
    [RG, `${S}/resourceGroups/rg-ab`, false],
    [`${S}/resourcegroups/RG-A/providers/microsoft.keyvault/vaults/KV`, RG, true],
    [`/subscriptions/${SUB.toUpperCase()}`, S, true],
    [`/subscriptions/00000000-0000-0000-0000-0000000000a2`, S, false],
    [`${RG}/providers/x/../..`, RG, false],
    [`${RG}%2F..`, RG, false],
    [KV, `${RG}/`, false],
    [`${RG}/providers/Microsoft.KeyVault/vaults/kv2`, KV, false],
    ["/providers/Microsoft.Management/managementGroups/mg", S, false],
  ])("%s within %s = %s", (child, parent, expected) => {
    expect(isWithin(child, parent)).toBe(expected);
  });

  it("breadth and its order", () => {
    expect(breadth(S)).toBe("subscription");
    expect(breadth(`${RG}/`)).toBeUndefined();
    expect(notBroaderThan("resource", "resourceGroup")).toBe(true);
    expect(notBroaderThan("resourceGroup", "resourceGroup")).toBe(true);
    expect(notBroaderThan("subscription", "resourceGroup")).toBe(false);
    expect(notBroaderThan("managementGroup", "subscription")).toBe(false);
  });
});

const segChar = fc.constantFrom(..."abcXYZ019-_.()%?#\\ /".split(""));
const segment = fc.string({ unit: segChar, minLength: 0, maxLength: 6 });
const arbitraryId = fc
  .array(fc.oneof(segment, fc.constantFrom("subscriptions", SUB, "resourceGroups", "providers", "..", ".")), {
    maxLength: 10,
  })
  .map((s) => "/" + s.join("/"));
const goodName = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const validId = fc
  .tuple(fc.boolean(), goodName, fc.array(fc.tuple(goodName, goodName), { maxLength: 3 }))
  .map(([hasRg, rg, pairs]) => {
    let id = S;
    if (!hasRg) return id;
    id += `/resourceGroups/${rg}`;
    if (pairs.length) id += "/providers/Microsoft.Test" + pairs.map(([t, n]) => `/${t}/${n}`).join("");
    return id;
  });

describe("properties", () => {
  it("an accepted ID is canonical text: no dot segments, escapes, whitespace, empty segments", () => {
    fc.assert(
      fc.property(arbitraryId, (id) => {
        const r = parseArmId(id);
        if (!r.ok) return;
        const segs = r.id.text.split("/").slice(1);
        expect(segs.every((s) => s !== "" && s !== "." && s !== ".." && !/[%?#\\\s]/.test(s))).toBe(true);
        expect(r.id.text.toLowerCase()).toBe(id.toLowerCase());
      }),
      { numRuns: 3000 },
    );
  });

  it("the CRD scope pattern accepts exactly what the parser accepts as a subscription-rooted scope", () => {
    fc.assert(
      fc.property(fc.oneof(arbitraryId, validId), (id) => {
        const r = parseArmId(id);
        const parserSays = r.ok && r.id.subscription !== undefined;
        expect(matches(armIdPatterns.scope, id)).toBe(parserSays);
        expect(matches(patterns.armScope, id)).toBe(parserSays);
      }),
      { numRuns: 3000 },
    );
  });

  it("isWithin is reflexive, transitive along prefixes, and never crosses a sibling with a shared prefix", () => {
    fc.assert(
      fc.property(validId, goodName, (id, suffix) => {
        expect(isWithin(id, id)).toBe(true);
        const r = parseArmId(id);
        if (!r.ok) throw new Error(r.error);
        for (let n = 1; n <= r.id.segments.length; n++) {
          const prefix = "/" + r.id.segments.slice(0, n).join("/");
          // Every valid ID made of a prefix of the segments contains the ID; invalid prefixes contain nothing.
          expect(isWithin(id, prefix)).toBe(parseArmId(prefix).ok);
        }
        const last = r.id.segments.at(-1)!;
        const sibling = "/" + [...r.id.segments.slice(0, -1), last + suffix].join("/");
        if (parseArmId(sibling).ok) {
          expect(isWithin(sibling, id)).toBe(false);
          expect(isWithin(id, sibling)).toBe(false);
        }
        expect(sameArmId(id.toUpperCase().replace("/SUBSCRIPTIONS/", "/subscriptions/"), id)).toBe(true);
      }),
    );
  });
});
