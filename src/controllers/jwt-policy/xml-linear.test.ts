import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkWellFormed,
  ExpressionScanner,
  MAX_FRAGMENT_CHARS,
  MAX_POLICY_CHARS,
  parsePolicyXml,
  scanExpression,
} from "./xml.ts";
import { ADVERSARIAL, adversarialDocument } from "../../../bench/xml-adversarial.ts";

/**
 * The scanner as it was before the walks shared their steps: one walk per expression, from its start. Kept here as
 * the oracle, so the shared scanner must answer exactly what it answered on every input.
 */
function reference(src: string, open: number): number {
  let depth = 0;
  let i = open;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === "(" || c === "{" || c === "[") {
      depth++;
      i++;
    } else if (c === ")" || c === "}" || c === "]") {
      depth--;
      i++;
      if (depth === 0) return i;
    } else if (c === '"') {
      const verbatim = src[i - 1] === "@" || (src[i - 1] === "$" && src[i - 2] === "@");
      i++;
      if (verbatim) {
        while (i < n) {
          if (src[i] === '"') {
            if (src[i + 1] === '"') i += 2;
            else break;
          } else i++;
        }
      } else {
        while (i < n && src[i] !== '"') i += src[i] === "\\" ? 2 : 1;
      }
      if (i >= n) return -1;
      i++;
    } else if (c === "'") {
      const close = src.slice(i + 1, i + 9).search(/(?<!\\)'/);
      i += close >= 0 ? close + 2 : 1;
    } else if (c === "/" && src[i + 1] === "/") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) return -1;
      i = end + 2;
    } else {
      i++;
    }
  }
  return -1;
}

/** Small alphabet of everything the C# lexer treats specially, so random strings hit every branch often. */
const lexeme = fc.constantFrom(
  "(",
  ")",
  "{",
  "}",
  "[",
  "]",
  '"',
  "'",
  "@",
  "$",
  "/",
  "*",
  "\\",
  "\n",
  "x",
  " ",
  "//",
  "/*",
  "*/",
  '@"',
  '""',
  "'x'",
);
const source = fc.array(lexeme, { maxLength: 120 }).map((xs) => xs.join(""));

function opens(src: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) if (src[i] === "(" || src[i] === "{") out.push(i);
  return out;
}

describe("expression scanning shares work between expressions and answers as before", () => {
  it("one scanner asked about every bracket in document order agrees with a fresh walk from each", () => {
    fc.assert(
      fc.property(source, (src) => {
        const shared = new ExpressionScanner(src);
        for (const o of opens(src))
          expect(shared.scan(o), `${JSON.stringify(src)} @${o}`).toBe(reference(src, o));
      }),
      { numRuns: 2000 },
    );
  });

  it("the answers do not depend on the order of the questions", () => {
    fc.assert(
      fc.property(source, fc.integer(), (src, seed) => {
        const order = opens(src);
        // Deterministic shuffle: later walks must merge into paths recorded by walks that started further on.
        let s = seed >>> 0;
        for (let i = order.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) >>> 0;
          const j = s % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const shared = new ExpressionScanner(src);
        for (const o of order) expect(shared.scan(o), `${JSON.stringify(src)} @${o}`).toBe(reference(src, o));
      }),
      { numRuns: 2000 },
    );
  });

  it("scanExpression keeps its contract on hand-picked cases", () => {
    const cases = [
      '@(h.Get("x)") )',
      "@{ /* } */ return 1; }",
      '@(@"a""b)")',
      "@('(')",
      "@(// )\n)",
      "@((x)",
    ];
    for (const c of cases) expect(scanExpression(c, 1), c).toBe(reference(c, 1));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Adversarial documents. Before the shared scanner, 128 KB of `<value>@(</value>` took 1.6 s to parse and 256 KB
// four times that. Here the scanner's work is counted (deterministic, whatever the machine's load); the wall time
// of parsing and deciding such documents is a benchmark: `npm run bench:xml` (bench/xml-parse.ts).

describe("the expression scanner's work is linear in the document size", () => {
  const scanAll = (doc: string): number => {
    const scanner = new ExpressionScanner(doc);
    for (let i = 0; i < doc.length; i++) {
      if (doc[i] === "@" && (doc[i + 1] === "(" || doc[i + 1] === "{")) scanner.scan(i + 1);
    }
    return scanner.work;
  };

  it("every adversarial shape at the largest size APIM stores: work (steps, hops, jumps) ≤ twice the length", () => {
    for (const [shape, unit] of Object.entries(ADVERSARIAL)) {
      const doc = adversarialDocument(unit, MAX_POLICY_CHARS - 64);
      expect(scanAll(doc), shape).toBeLessThanOrEqual(2 * doc.length);
    }
    fc.assert(
      fc.property(source, (src) => {
        const scanner = new ExpressionScanner(src);
        for (const o of opens(src)) scanner.scan(o);
        expect(scanner.work).toBeLessThanOrEqual(2 * src.length + 2);
      }),
      { numRuns: 2000 },
    );
  });

  it("four times the size is at most four times the work (quadratic would be sixteen)", () => {
    for (const [shape, unit] of Object.entries(ADVERSARIAL)) {
      const small = adversarialDocument(unit, 64 * 1024);
      const large = adversarialDocument(unit, 256 * 1024 - 64);
      // Linear is 4×; a little over for fixed costs, far under the 16× of quadratic work.
      expect(scanAll(large) / Math.max(1, scanAll(small)), shape).toBeLessThanOrEqual(4.5);
    }
  });

  it("a random mix of adversarial pieces stays within the bound", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...Object.values(ADVERSARIAL)), { minLength: 1, maxLength: 8 }),
        (units) => {
          const doc = adversarialDocument(units.join(""), MAX_POLICY_CHARS - 64);
          expect(scanAll(doc)).toBeLessThanOrEqual(2 * doc.length);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("document size limit", () => {
  it("refuses a policy larger than APIM stores with code PolicyTooLarge, before scanning it", () => {
    const doc = adversarialDocument("<value>@(</value>", MAX_POLICY_CHARS + 1024);
    const r = parsePolicyXml(doc);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("PolicyTooLarge");
    expect(r.error.message).toMatch(/256 KiB/);
    expect(checkWellFormed(doc)?.code).toBe("PolicyTooLarge");
  });

  it("accepts a policy of exactly the limit and a fragment up to its own larger limit", () => {
    const filler = (len: number, open: string, close: string) =>
      open + " ".repeat(len - open.length - close.length) + close;
    expect(checkWellFormed(filler(MAX_POLICY_CHARS, "<policies>", "</policies>"))).toBeUndefined();
    const fragment = filler(MAX_FRAGMENT_CHARS, "<fragment>", "</fragment>");
    expect(parsePolicyXml(fragment, "fragment").ok).toBe(true);
    expect(parsePolicyXml(fragment + " ", "fragment")).toMatchObject({
      ok: false,
      error: { code: "PolicyTooLarge" },
    });
  });
});
