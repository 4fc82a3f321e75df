import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalize,
  checkWellFormed,
  elements,
  findIncludeFragment,
  findInlineRule,
  GLOBAL_SKELETON,
  insertIncludeFragment,
  parsePolicyXml,
  PolicyXmlError,
  removeIncludeFragment,
  removeInlineRule,
  SKELETON,
  upsertInlineRule,
  type ParsedDocument,
} from "./xml.ts";
import { renderValidateJwt } from "./render.ts";

const FRAGMENT = "laio-team-a-orders";
const MARKER = "team-a/orders";
const RULE = renderValidateJwt({
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  audiences: ["api://orders"],
  requiredRoles: ["Orders.Write"],
  callerPrincipalId: "6a1b2c3d-0000-4000-8000-000000000001",
});

const dir = join(import.meta.dirname, "testdata");
const corpus = readdirSync(dir)
  .filter((f) => f.endsWith(".xml"))
  .sort()
  .map((f) => ({ file: f, xml: readFileSync(join(dir, f), "utf8") }));

function parse(xml: string): ParsedDocument {
  const r = parsePolicyXml(xml);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.doc;
}

/** Every element except ours, as (name, exact source text) in document order. */
function foreign(xml: string): string[] {
  const doc = parse(xml);
  const ours = new Set<number>();
  for (const e of findIncludeFragment(xml, FRAGMENT)) ours.add(e.start);
  for (const r of findInlineRule(xml, MARKER)) {
    if (r.element) for (const e of elements({ ...doc, nodes: [r.element] })) ours.add(e.start);
  }
  return elements(doc)
    .filter((e) => !ours.has(e.start) && !["policies", "inbound"].includes(e.name))
    .map((e) => `${e.name}:${xml.slice(e.start, e.end)}`);
}

describe("corpus of foreign policies", () => {
  it("has at least 12 documents, all well-formed", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(12);
    for (const { file, xml } of corpus) expect(checkWellFormed(xml), file).toBeUndefined();
  });

  describe.each(corpus)("$file", ({ xml }) => {
    it("include-fragment: apply then remove gives the original bytes; apply is idempotent", () => {
      const applied = insertIncludeFragment(xml, FRAGMENT);
      expect(applied).not.toBe(xml);
      expect(checkWellFormed(applied)).toBeUndefined();
      expect(findIncludeFragment(applied, FRAGMENT)).toHaveLength(1);
      expect(insertIncludeFragment(applied, FRAGMENT)).toBe(applied);
      expect(removeIncludeFragment(applied, FRAGMENT)).toBe(xml);
      expect(removeIncludeFragment(xml, FRAGMENT)).toBe(xml);
    });

    it("include-fragment lands in inbound, right after a direct <base /> when there is one", () => {
      const applied = insertIncludeFragment(xml, FRAGMENT);
      const inc = findIncludeFragment(applied, FRAGMENT)[0]!;
      expect(inc.parent?.name).toBe("inbound");
      const siblings = inc.parent!.children.filter((c) => c.kind === "element");
      const base = siblings.find((c) => c.kind === "element" && c.name === "base");
      const idx = siblings.indexOf(inc);
      if (base) expect(siblings[idx - 1]).toBe(base);
      else expect(idx).toBe(0);
    });

    it("foreign elements are untouched, in order, byte for byte", () => {
      expect(foreign(insertIncludeFragment(xml, FRAGMENT))).toEqual(foreign(xml));
      expect(foreign(upsertInlineRule(xml, MARKER, RULE))).toEqual(foreign(xml));
    });

    it("inline rule: apply then remove gives the original bytes; apply is idempotent", () => {
      const applied = upsertInlineRule(xml, MARKER, RULE);
      expect(checkWellFormed(applied)).toBeUndefined();
      const found = findInlineRule(applied, MARKER);
      expect(found).toHaveLength(1);
      expect(found[0]!.element?.name).toBe("validate-jwt");
      expect(upsertInlineRule(applied, MARKER, RULE)).toBe(applied);
      expect(removeInlineRule(applied, MARKER)).toBe(xml);
    });

    it("inline rule: a changed rule replaces only our element", () => {
      const applied = upsertInlineRule(xml, MARKER, RULE);
      const other = renderValidateJwt({ tenantId: "t", audiences: ["api://other"] });
      const updated = upsertInlineRule(applied, MARKER, other);
      expect(canonicalize(updated.slice(...span(updated)))).toBe(canonicalize(other));
      expect(foreign(updated)).toEqual(foreign(xml));
      expect(removeInlineRule(updated, MARKER)).toBe(xml);
    });
  });

  it("does not mistake a commented-out include for ours", () => {
    const xml = corpus.find((c) => c.file.startsWith("07"))!.xml;
    expect(xml).toContain(`fragment-id="${FRAGMENT}"`);
    expect(findIncludeFragment(xml, FRAGMENT)).toHaveLength(0);
  });

  it("leaves someone else's validate-jwt alone in Inline mode", () => {
    const xml = corpus.find((c) => c.file.startsWith("16"))!.xml;
    const applied = upsertInlineRule(xml, MARKER, RULE);
    expect(elements(parse(applied)).filter((e) => e.name === "validate-jwt")).toHaveLength(2);
    expect(applied).toContain("api://someone-else");
  });
});

function span(xml: string): [number, number] {
  const el = findInlineRule(xml, MARKER)[0]!.element!;
  return [el.start, el.end];
}

describe("shapes", () => {
  it("skeleton: include after <base />, indented like it", () => {
    expect(insertIncludeFragment(SKELETON, "f")).toContain(
      '<inbound>\n        <base />\n        <include-fragment fragment-id="f" />\n    </inbound>',
    );
  });
  it("global skeleton has no <base /> and gets the include first in inbound", () => {
    expect(GLOBAL_SKELETON).not.toContain("<base");
    expect(insertIncludeFragment(GLOBAL_SKELETON, "f")).toContain(
      '<inbound>\n        <include-fragment fragment-id="f" />\n    </inbound>',
    );
  });
  it("self-closing inbound is expanded and collapsed back", () => {
    for (const inbound of ["<inbound/>", "<inbound />", '<inbound  x="1"\n/>']) {
      const xml = `<policies>${inbound}<outbound/></policies>`;
      const applied = insertIncludeFragment(xml, "f");
      expect(applied).toContain('<include-fragment fragment-id="f" /></inbound>');
      expect(removeIncludeFragment(applied, "f")).toBe(xml);
    }
  });
  it("a document without inbound gets one, removed again on removal", () => {
    const xml = "<policies>\n  <outbound />\n</policies>";
    const applied = insertIncludeFragment(xml, "f");
    expect(applied).toBe(
      '<policies>\n  <inbound><include-fragment fragment-id="f" />\n  </inbound>\n  <outbound />\n</policies>',
    );
    expect(removeIncludeFragment(applied, "f")).toBe(xml);
  });
  it("whitespace-only and empty inbound", () => {
    for (const xml of [
      "<policies><inbound></inbound></policies>",
      "<policies><inbound> </inbound></policies>",
    ]) {
      expect(removeIncludeFragment(insertIncludeFragment(xml, "f"), "f")).toBe(xml);
    }
  });
  it("an include a person moved elsewhere counts as present and is removed from there", () => {
    const xml =
      '<policies><inbound><base /><choose><when condition="@(true)"><include-fragment fragment-id="f" /></when></choose></inbound></policies>';
    expect(insertIncludeFragment(xml, "f")).toBe(xml);
    expect(removeIncludeFragment(xml, "f")).toBe(
      '<policies><inbound><base /><choose><when condition="@(true)"></when></choose></inbound></policies>',
    );
  });
  it("duplicates of our include are all removed", () => {
    const xml = insertIncludeFragment(SKELETON, "f").replace(
      "<outbound>",
      '<outbound>\n        <include-fragment fragment-id="f" />',
    );
    expect(removeIncludeFragment(xml, "f")).toBe(SKELETON);
  });
  it("an inline marker whose element was deleted is repaired", () => {
    const applied = upsertInlineRule(SKELETON, MARKER, RULE);
    const el = findInlineRule(applied, MARKER)[0]!.element!;
    const broken = applied.slice(0, el.start) + applied.slice(el.end);
    const repaired = upsertInlineRule(broken, MARKER, RULE);
    expect(findInlineRule(repaired, MARKER)[0]!.element).toBeDefined();
    expect(findInlineRule(repaired, MARKER)).toHaveLength(1);
    expect(removeInlineRule(repaired, MARKER)).toBe(removeInlineRule(broken, MARKER));
  });
  it("refuses to edit <policies/>", () => {
    expect(() => insertIncludeFragment("<policies/>", "f")).toThrow(PolicyXmlError);
  });
  it("canonical comparison ignores APIM's re-formatting and escaping", () => {
    const formatted = RULE.replace(/\n\s*/g, "\r\n  ").replace(" />", "/>");
    expect(canonicalize(formatted)).toBe(canonicalize(RULE));
    expect(canonicalize(RULE.replace("api://orders", "api://other"))).not.toBe(canonicalize(RULE));
  });
});

describe("checkWellFormed", () => {
  it.each([
    ["<policies><inbound></outbound></policies>", 1, 20, "does not match <inbound>"],
    ["<policies>\n  <inbound>\n", 2, 3, "<inbound> is not closed"],
    ["<fragment><base /></fragment>", 1, 1, "expected <policies>"],
    ["", 1, 1, "no <policies> root"],
    ['<policies><inbound><set-header name="x></inbound></policies>', 1, 37, "attribute value is not closed"],
    ["<policies></policies><policies/>", 1, 22, "second root"],
    ["<policies><!-- never closed </policies>", 1, 11, "comment is not closed"],
    ["<policies><inbound></inbound></policies>\ntrailing", 2, 1, "text outside the root"],
  ])("%j → line %i col %i", (xml, line, column, msg) => {
    const err = checkWellFormed(xml);
    expect(err).toBeDefined();
    expect(err!.message).toContain(msg);
    expect([err!.line, err!.column]).toEqual([line, column]);
  });

  it("accepts expressions with raw <, >, && and the attribute's own quote", () => {
    const xml =
      '<policies><inbound><when condition="@(context.Request.Headers.GetValueOrDefault("x","") != "" && 1 < 2)"><a/></when>' +
      '<v>@(new List<string>().Count > 0)</v><v>@{ var d = new Dictionary<string, int>(); return d.Count < 1 ? "<" : ">"; }</v>' +
      "<v>a < b</v></inbound></policies>";
    expect(checkWellFormed(xml)).toBeUndefined();
    expect(elements(parse(xml)).map((e) => e.name)).toEqual([
      "policies",
      "inbound",
      "when",
      "a",
      "v",
      "v",
      "v",
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property-based: generated policy trees with foreign elements, attributes, comments and expressions.

const ws = fc.constantFrom("", " ", "\n", "\n    ", "\r\n  ", "\t");
const name = fc.constantFrom(
  "set-header",
  "rate-limit",
  "choose",
  "when",
  "value",
  "set-variable",
  "trace",
  "cors",
);
const expr = fc.constantFrom(
  '@(context.Request.Headers.GetValueOrDefault("x","") != "" && 1 < 2)',
  "@(context.Response.StatusCode >= 500)",
  '@{ var l = new List<string>(); return l.Count > 0 ? "a" : "b"; }',
  "@(new Dictionary<string, List<int>>().Count < 3)",
  "plain",
  "a &amp; b &lt; c",
);
const attr = fc
  .tuple(fc.constantFrom("name", "condition", "value", "calls", "x-y"), expr, fc.constantFrom('"', "'"))
  .map(([n, v, q]) => ` ${n}=${q}${v}${q}`);
const comment = fc.constantFrom("<!-- c -->", "<!-- <base /> & <include-fragment/> -->", "<!--\n multi\n-->");
const text = fc.constantFrom(
  "",
  "text",
  "@(1 < 2)",
  '@{\n  var s = "</inbound>";\n  return s;\n}',
  "<![CDATA[ <x> & ]]>",
  "a &lt; b",
);

const leaf: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(name, fc.array(attr, { maxLength: 3 }), ws).map(([n, a, w]) => `<${n}${a.join("")}${w}/>`),
  fc.tuple(name, fc.array(attr, { maxLength: 2 }), text).map(([n, a, t]) => `<${n}${a.join("")}>${t}</${n}>`),
  comment,
  fc.constant("<base />"),
);
const element = fc.letrec<{ el: string }>((tie) => ({
  el: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc
      .tuple(name, fc.array(attr, { maxLength: 2 }), fc.array(fc.tuple(ws, tie("el")), { maxLength: 3 }), ws)
      .map(([n, a, kids, w]) => `<${n}${a.join("")}>${kids.map(([s, k]) => s + k).join("")}${w}</${n}>`),
  ),
})).el;
const content = fc
  .array(fc.tuple(ws, element), { maxLength: 5 })
  .map((xs) => xs.map(([w, e]) => w + e).join(""));
const section = (sname: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constant(""),
    fc.constant(`<${sname} />`),
    fc.tuple(content, ws).map(([c, w]) => `<${sname}>${c}${w}</${sname}>`),
  );
const policy = fc
  .tuple(
    fc.constantFrom("", "<!-- header -->\n", '<?xml version="1.0"?>\n'),
    fc.tuple(ws, section("inbound")),
    fc.tuple(ws, section("backend")),
    fc.tuple(ws, section("outbound")),
    fc.tuple(ws, section("on-error")),
    ws,
  )
  .map(
    ([head, ...parts]) =>
      `${head}<policies>${parts
        .slice(0, 4)
        .map((p) => (p as [string, string]).join(""))
        .join("")}${parts[4] as string}</policies>`,
  );

describe("property: generated policy trees", () => {
  it("are well-formed for the scanner", () => {
    fc.assert(
      fc.property(policy, (xml) => {
        expect(checkWellFormed(xml)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("include: apply then remove is the identity; apply twice = apply once; foreign elements kept", () => {
    fc.assert(
      fc.property(policy, (xml) => {
        const once = insertIncludeFragment(xml, FRAGMENT);
        expect(insertIncludeFragment(once, FRAGMENT)).toBe(once);
        expect(removeIncludeFragment(once, FRAGMENT)).toBe(xml);
        expect(findIncludeFragment(once, FRAGMENT)).toHaveLength(1);
        expect(foreign(once)).toEqual(foreign(xml));
      }),
      { numRuns: 500 },
    );
  });

  it("inline: apply then remove is the identity; apply twice = apply once; foreign elements kept", () => {
    fc.assert(
      fc.property(policy, (xml) => {
        const once = upsertInlineRule(xml, MARKER, RULE);
        expect(upsertInlineRule(once, MARKER, RULE)).toBe(once);
        expect(removeInlineRule(once, MARKER)).toBe(xml);
        expect(foreign(once)).toEqual(foreign(xml));
      }),
      { numRuns: 300 },
    );
  });

  it("switching modes and back restores the document", () => {
    fc.assert(
      fc.property(policy, (xml) => {
        const frag = insertIncludeFragment(xml, FRAGMENT);
        const inline = upsertInlineRule(removeIncludeFragment(frag, FRAGMENT), MARKER, RULE);
        const back = insertIncludeFragment(removeInlineRule(inline, MARKER), FRAGMENT);
        expect(back).toBe(frag);
      }),
      { numRuns: 200 },
    );
  });
});
