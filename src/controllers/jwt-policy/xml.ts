/**
 * A lossless, tolerant scanner for API Management policy documents as stored with format=rawxml, and the splice
 * edits the operator makes to them. Nothing is ever re-serialised: the scanner only reports spans of the original
 * string, and every edit replaces one span, so bytes we do not own stay byte-for-byte identical (ADR 0021).
 *
 * rawxml is not XML: attribute values and element text may hold C# policy expressions with raw `<`, `>`, `&&` and
 * even the attribute's own quote character (`condition="@(h.GetValueOrDefault("x","") != "")"`). The scanner
 * therefore reads `@(...)` / `@{...}` with a small C# lexer (strings, verbatim strings, chars, comments, nested
 * brackets) before it looks for the closing quote or the next tag.
 */

export interface XmlError {
  message: string;
  /** Set when the document was refused before scanning; the decide turns it into its own Stalled reason. */
  code?: "PolicyTooLarge";
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
}

export interface XmlAttribute {
  name: string;
  /** Raw text between the quotes, exactly as written (not entity-decoded). */
  raw: string;
  start: number;
  end: number;
  quote: '"' | "'" | "";
}

export interface XmlElement {
  kind: "element";
  name: string;
  attributes: XmlAttribute[];
  /** Offset of `<`. */
  start: number;
  /** Offset just after the start tag's `>` (or after `/>` when self-closing). */
  startTagEnd: number;
  /** Content span: equal to startTagEnd / offset of `</` (empty for self-closing elements). */
  contentStart: number;
  contentEnd: number;
  /** Offset just after the end tag's `>` (or `/>`). */
  end: number;
  selfClosing: boolean;
  children: XmlNode[];
  parent?: XmlElement;
}

export interface XmlLeaf {
  kind: "text" | "comment" | "cdata" | "pi";
  start: number;
  end: number;
  parent?: XmlElement;
}

export type XmlNode = XmlElement | XmlLeaf;

export interface ParsedDocument {
  source: string;
  root: XmlElement;
  /** Top-level nodes, root included, in document order. */
  nodes: XmlNode[];
}

export type ParseResult = { ok: true; doc: ParsedDocument } | { ok: false; error: XmlError };

/** The document a target gets when it has no policy yet (product, API and operation scope). */
export const SKELETON =
  "<policies>\n" +
  "    <inbound>\n        <base />\n    </inbound>\n" +
  "    <backend>\n        <base />\n    </backend>\n" +
  "    <outbound>\n        <base />\n    </outbound>\n" +
  "    <on-error>\n        <base />\n    </on-error>\n" +
  "</policies>";

/**
 * Global scope is the top of the inheritance chain, so it has no `<base />`; forward-request lives there by
 * default (Learn, forward-request policy: "By default, API Management sets up this policy at the global scope").
 */
export const GLOBAL_SKELETON =
  "<policies>\n" +
  "    <inbound>\n    </inbound>\n" +
  "    <backend>\n        <forward-request />\n    </backend>\n" +
  "    <outbound>\n    </outbound>\n" +
  "    <on-error>\n    </on-error>\n" +
  "</policies>";

export type PolicyScope = "global" | "product" | "api" | "operation";

export function skeletonFor(scope: PolicyScope): string {
  return scope === "global" ? GLOBAL_SKELETON : SKELETON;
}

const INDENT_UNIT = "    ";

// ---------------------------------------------------------------------------------------------------------------
// Scanning

function isWs(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r";
}

function isNameStart(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z_:]/.test(c);
}

function isNameChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_:.-]/.test(c);
}

export function lineColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class ScanError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/** Where a walk through one expression ended; see ExpressionScanner. */
type PathEnd =
  | { kind: "closed"; at: number }
  | { kind: "failed" }
  | { kind: "merged"; path: number; index: number; depth: number };

/** The steps of one walk that no earlier walk had taken, and how it ended. */
interface Path {
  pos: number[];
  /** Bracket depth before / after each step, in the walk's own count. */
  pre: number[];
  post: number[];
  end: PathEnd;
  /** min(post[j..]) and, for each step, the next step whose depth is lower (or -1); filled when the walk ends. */
  sufMin: Int32Array;
  nextLower: Int32Array;
}

const OPEN = new Set(["(", "{", "["]);
const CLOSE = new Set([")", "}", "]"]);

/**
 * Finds where `@(...)` / `@{...}` expressions end, in time linear in the document over all the expressions of one
 * parse. Scanning each expression from its start is quadratic on text that opens `@(` without closing it (every
 * later expression re-reads the rest of the document). Two facts make sharing possible: where the lexer goes
 * next from a position (one step: a bracket, a whole string, char literal or comment, or one other character)
 * depends only on that position, never on where the walk started or how deep it is; and the walk ends when its
 * bracket depth first returns to 0. So a walk that reaches a position an earlier walk stepped on follows that
 * walk's recorded steps from there, shifted by the depth difference, and only needs to know the first recorded
 * step low enough to close it (suffix minimum, then "next lower" jumps). Every position is stepped on fresh at
 * most once; the lookup tables below make each step O(1). The bound holds for questions asked in increasing offset
 * order, the parser's order (work ≤ 2n in the tests and in fuzzing); any order gets the same answers, but asked
 * backwards, chains of merged walks can make the work superlinear.
 */
export class ExpressionScanner {
  readonly #src: string;
  readonly #n: number;
  readonly #paths: Path[] = [];
  #owner: Int32Array | undefined;
  #index: Int32Array | undefined;
  // For each offset k: end of a regular string whose content starts at k (the closing quote), of a verbatim one,
  // of a block comment (`*/`), of a line comment (newline); -1 (or n for the newline) when there is none.
  #strEnd: Int32Array | undefined;
  #verbatimEnd: Int32Array | undefined;
  #commentEnd: Int32Array | undefined;
  #lineEnd: Int32Array | undefined;
  #work = 0;

  constructor(src: string) {
    this.#src = src;
    this.#n = src.length;
  }

  /** Steps, path hops and jumps taken so far: what the linear bound is about (tests assert on it). */
  get work(): number {
    return this.#work;
  }

  #tables(): void {
    if (this.#owner) return;
    const src = this.#src;
    const n = this.#n;
    this.#owner = new Int32Array(n).fill(-1);
    this.#index = new Int32Array(n);
    const str = new Int32Array(n + 2).fill(-1);
    const verb = new Int32Array(n + 2).fill(-1);
    const com = new Int32Array(n + 2).fill(-1);
    const line = new Int32Array(n + 2).fill(n);
    for (let k = n - 1; k >= 0; k--) {
      const c = src[k];
      str[k] = c === '"' ? k : c === "\\" ? str[k + 2]! : str[k + 1]!;
      verb[k] = c === '"' ? (src[k + 1] === '"' ? verb[k + 2]! : k) : verb[k + 1]!;
      com[k] = c === "*" && src[k + 1] === "/" ? k : com[k + 1]!;
      line[k] = c === "\n" ? k : line[k + 1]!;
    }
    this.#strEnd = str;
    this.#verbatimEnd = verb;
    this.#commentEnd = com;
    this.#lineEnd = line;
  }

  /** One lexer step from `i`: the next offset and the change in bracket depth, or -1 when the step runs off the end. */
  #step(i: number): { next: number; delta: number } {
    const src = this.#src;
    const c = src[i]!;
    if (OPEN.has(c)) return { next: i + 1, delta: 1 };
    if (CLOSE.has(c)) return { next: i + 1, delta: -1 };
    if (c === '"') {
      const verbatim = src[i - 1] === "@" || (src[i - 1] === "$" && src[i - 2] === "@");
      const end = (verbatim ? this.#verbatimEnd : this.#strEnd)![i + 1]!;
      return { next: end < 0 ? -1 : end + 1, delta: 0 };
    }
    if (c === "'") {
      // A char literal is at most a few characters ('x', '\n', '\u0041'); anything else is not one.
      const close = src.slice(i + 1, i + 9).search(/(?<!\\)'/);
      return { next: i + (close >= 0 ? close + 2 : 1), delta: 0 };
    }
    if (c === "/" && src[i + 1] === "/") return { next: this.#lineEnd![i]!, delta: 0 };
    if (c === "/" && src[i + 1] === "*") {
      const end = this.#commentEnd![i + 2]!;
      return { next: end < 0 ? -1 : end + 2, delta: 0 };
    }
    return { next: i + 1, delta: 0 };
  }

  #finish(path: Path, end: PathEnd): void {
    path.end = end;
    const len = path.pos.length;
    if (len === 0) return;
    const sufMin = new Int32Array(len);
    const nextLower = new Int32Array(len).fill(-1);
    let min = Infinity;
    const stack: number[] = [];
    for (let j = len - 1; j >= 0; j--) {
      const d = path.post[j]!;
      min = Math.min(min, d);
      sufMin[j] = min;
      while (stack.length > 0 && path.post[stack[stack.length - 1]!]! >= d) stack.pop();
      if (stack.length > 0) nextLower[j] = stack[stack.length - 1]!;
      stack.push(j);
    }
    path.sufMin = sufMin;
    path.nextLower = nextLower;
    const id = this.#paths.length;
    this.#paths.push(path);
    for (let j = 0; j < len; j++) {
      this.#owner![path.pos[j]!] = id;
      this.#index![path.pos[j]!] = j;
    }
  }

  /**
   * A walk at depth `depth` arrives at step `index` of a recorded path: closed (offset after the bracket), failed,
   * or it leaves the recorded steps at `at` with depth `depth` and walks on.
   */
  #follow(
    pathId: number,
    index: number,
    depth: number,
  ): { kind: "closed"; at: number } | { kind: "failed" } | { kind: "continue"; at: number; depth: number } {
    let p = this.#paths[pathId]!;
    let m = index;
    let x = depth;
    for (;;) {
      this.#work++;
      // The arriving walk's depth after step j is x + post[j] - pre[m]; it closes at the first j where that is 0.
      const target = p.pre[m]! - x;
      if (p.sufMin[m]! <= target) {
        let j = m;
        while (p.post[j]! > target) {
          this.#work++;
          j = p.nextLower[j]!;
        }
        return { kind: "closed", at: p.pos[j]! + 1 };
      }
      const offset = x - p.pre[m]!;
      const end = p.end;
      if (end.kind === "failed") return end;
      if (end.kind === "closed") return { kind: "continue", at: end.at, depth: offset };
      x = end.depth + offset;
      p = this.#paths[end.path]!;
      m = end.index;
    }
  }

  /** Given `src[open]` is `(` or `{` right after an `@`, the offset after the matching bracket, or -1. */
  scan(open: number): number {
    this.#tables();
    const newPath = (): Path => ({
      pos: [],
      pre: [],
      post: [],
      end: { kind: "failed" },
      sufMin: new Int32Array(0),
      nextLower: new Int32Array(0),
    });
    let path = newPath();
    let cur = open;
    let depth = 0;
    for (;;) {
      if (cur >= this.#n) {
        this.#finish(path, { kind: "failed" });
        return -1;
      }
      const owner = this.#owner![cur]!;
      if (owner >= 0) {
        const index = this.#index![cur]!;
        this.#finish(path, { kind: "merged", path: owner, index, depth });
        const r = this.#follow(owner, index, depth);
        if (r.kind === "closed") return r.at;
        if (r.kind === "failed") return -1;
        path = newPath();
        cur = r.at;
        depth = r.depth;
        continue;
      }
      this.#work++;
      const { next, delta } = this.#step(cur);
      path.pos.push(cur);
      path.pre.push(depth);
      if (next < 0) {
        path.post.push(depth);
        this.#finish(path, { kind: "failed" });
        return -1;
      }
      depth += delta;
      path.post.push(depth);
      if (delta < 0 && depth === 0) {
        this.#finish(path, { kind: "closed", at: next });
        return next;
      }
      cur = next;
    }
  }
}

/**
 * Given `src[open]` is `(` or `{` right after an `@`, returns the offset after the matching bracket, or -1 when the
 * expression does not close. Brackets inside C# strings, chars and comments do not count.
 */
export function scanExpression(src: string, open: number): number {
  return new ExpressionScanner(src).scan(open);
}

function scanAttributeValue(
  src: string,
  pos: number,
  quote: '"' | "'",
  expressions: ExpressionScanner,
): number {
  const valueStart = pos + 1;
  if (src[valueStart] === "@" && (src[valueStart + 1] === "(" || src[valueStart + 1] === "{")) {
    let e = expressions.scan(valueStart + 1);
    if (e > 0) {
      while (isWs(src[e])) e++;
      if (src[e] === quote) return e;
    }
  }
  const close = src.indexOf(quote, valueStart);
  if (close < 0) throw new ScanError("attribute value is not closed", pos);
  return close;
}

/**
 * The largest document API Management stores, so the largest we ever scan. Policy documents: 256 KiB (Learn,
 * "API Management gateway runtime limits", includes/api-management-gateway-constraints.md, ms.date 02/05/2026:
 * "Policy document size 256 KiB"; the Consumption tier allows 16 KiB). Fragments: 512 KB (Learn,
 * policy-fragments.md: a fragment's maximum size, see shared/docs/azure-wire-facts.md §7.6). Counted in UTF-16
 * code units, never more than the UTF-8 bytes, so a document APIM accepted is never refused here.
 */
export const MAX_POLICY_CHARS = 256 * 1024;
export const MAX_FRAGMENT_CHARS = 512 * 1024;

export function maxDocumentChars(rootName: string | null): number {
  return rootName === "policies" ? MAX_POLICY_CHARS : MAX_FRAGMENT_CHARS;
}

/** Parses a policy (or fragment) document. `rootName` null accepts any single root element. */
export function parsePolicyXml(source: string, rootName: string | null = "policies"): ParseResult {
  const max = maxDocumentChars(rootName);
  if (source.length > max) {
    return {
      ok: false,
      error: {
        code: "PolicyTooLarge",
        message: `the document has ${source.length} characters, more than the ${max / 1024} KiB API Management allows`,
        offset: max,
        ...lineColumn(source, max),
      },
    };
  }
  try {
    return { ok: true, doc: scan(source, rootName) };
  } catch (e) {
    if (e instanceof ScanError) {
      const { line, column } = lineColumn(source, e.offset);
      return { ok: false, error: { message: e.message, offset: e.offset, line, column } };
    }
    throw e;
  }
}

function scan(src: string, rootName: string | null): ParsedDocument {
  const expressions = new ExpressionScanner(src);
  const top: XmlNode[] = [];
  const stack: XmlElement[] = [];
  const n = src.length;
  let pos = src.startsWith("\uFEFF") ? 1 : 0;
  let textStart = -1;
  // Whether the current text run holds only whitespace and quotes so far (kept as we go: re-reading the run at
  // every `@` would be quadratic).
  let textLead = true;

  const addNode = (node: XmlNode): void => {
    const parent = stack[stack.length - 1];
    if (parent) {
      node.parent = parent;
      parent.children.push(node);
    } else {
      const lead = node.kind === "text" ? src.slice(node.start, node.end).search(/\S/) : -1;
      if (lead >= 0) {
        throw new ScanError("text outside the root element", node.start + lead);
      }
      if (node.kind === "element" && top.some((x) => x.kind === "element")) {
        throw new ScanError(`second root element <${node.name}>`, node.start);
      }
      top.push(node);
    }
  };
  const flushText = (end: number): void => {
    if (textStart >= 0 && end > textStart) addNode({ kind: "text", start: textStart, end });
    textStart = -1;
  };
  const leaf = (kind: XmlLeaf["kind"], open: string, close: string, what: string): void => {
    const end = src.indexOf(close, pos + open.length);
    if (end < 0) throw new ScanError(`${what} is not closed`, pos);
    flushText(pos);
    addNode({ kind, start: pos, end: end + close.length });
    pos = end + close.length;
  };

  while (pos < n) {
    const c = src[pos];
    if (c === "<") {
      const next = src[pos + 1];
      if (src.startsWith("<!--", pos)) {
        leaf("comment", "<!--", "-->", "comment");
        continue;
      }
      if (src.startsWith("<![CDATA[", pos)) {
        leaf("cdata", "<![CDATA[", "]]>", "CDATA section");
        continue;
      }
      if (next === "?") {
        leaf("pi", "<?", "?>", "processing instruction");
        continue;
      }
      if (next === "!") {
        leaf("pi", "<!", ">", "declaration");
        continue;
      }
      if (next === "/") {
        flushText(pos);
        let i = pos + 2;
        while (isNameChar(src[i])) i++;
        const name = src.slice(pos + 2, i);
        while (isWs(src[i])) i++;
        if (src[i] !== ">") throw new ScanError(`end tag </${name}> is not closed`, pos);
        const open = stack.pop();
        if (!open) throw new ScanError(`end tag </${name}> without a start tag`, pos);
        if (open.name !== name) {
          const at = lineColumn(src, open.start);
          throw new ScanError(
            `end tag </${name}> does not match <${open.name}> opened at line ${at.line}, column ${at.column}`,
            pos,
          );
        }
        open.contentEnd = pos;
        open.end = i + 1;
        pos = i + 1;
        continue;
      }
      if (isNameStart(next)) {
        flushText(pos);
        pos = scanStartTag(src, pos, stack, addNode, expressions);
        continue;
      }
      // A lone `<` (e.g. `a < b` in text) is tolerated as text.
    }
    if (textStart < 0) {
      textStart = pos;
      textLead = true;
    }
    if (c === "@" && (src[pos + 1] === "(" || src[pos + 1] === "{")) {
      // Element text that is an expression (possibly after whitespace or a quote) may contain `<` as C#.
      if (textLead) {
        const e = expressions.scan(pos + 1);
        if (e > 0) {
          textLead = false;
          pos = e;
          continue;
        }
      }
    }
    if (textLead && !/[\s"']/.test(c!)) textLead = false;
    pos++;
  }
  flushText(n);
  const unclosed = stack[stack.length - 1];
  if (unclosed) throw new ScanError(`<${unclosed.name}> is not closed`, unclosed.start);
  const root = top.find((x): x is XmlElement => x.kind === "element");
  if (!root) throw new ScanError(rootName ? `no <${rootName}> root element` : "no root element", 0);
  if (rootName && root.name !== rootName) {
    throw new ScanError(`root element is <${root.name}>, expected <${rootName}>`, root.start);
  }
  return { source: src, root, nodes: top };
}

function scanStartTag(
  src: string,
  start: number,
  stack: XmlElement[],
  addNode: (node: XmlNode) => void,
  expressions: ExpressionScanner,
): number {
  let i = start + 1;
  while (isNameChar(src[i])) i++;
  const el: XmlElement = {
    kind: "element",
    name: src.slice(start + 1, i),
    attributes: [],
    start,
    startTagEnd: -1,
    contentStart: -1,
    contentEnd: -1,
    end: -1,
    selfClosing: false,
    children: [],
  };
  for (;;) {
    while (isWs(src[i])) i++;
    const c = src[i];
    if (c === undefined) throw new ScanError(`start tag <${el.name}> is not closed`, start);
    if (c === ">") {
      i++;
      el.startTagEnd = el.contentStart = i;
      addNode(el);
      stack.push(el);
      return i;
    }
    if (c === "/" && src[i + 1] === ">") {
      i += 2;
      el.selfClosing = true;
      el.startTagEnd = el.contentStart = el.contentEnd = el.end = i;
      addNode(el);
      return i;
    }
    if (!isNameStart(c)) throw new ScanError(`unexpected "${c}" in start tag <${el.name}>`, i);
    const attrStart = i;
    while (isNameChar(src[i])) i++;
    const name = src.slice(attrStart, i);
    let j = i;
    while (isWs(src[j])) j++;
    if (src[j] !== "=") {
      el.attributes.push({ name, raw: "", start: attrStart, end: i, quote: "" });
      continue;
    }
    j++;
    while (isWs(src[j])) j++;
    const q = src[j];
    if (q === '"' || q === "'") {
      const close = scanAttributeValue(src, j, q, expressions);
      el.attributes.push({ name, raw: src.slice(j + 1, close), start: attrStart, end: close + 1, quote: q });
      i = close + 1;
    } else {
      let k = j;
      while (k < src.length && !isWs(src[k]) && src[k] !== ">" && !(src[k] === "/" && src[k + 1] === ">"))
        k++;
      if (k === j) throw new ScanError(`attribute ${name} has no value`, attrStart);
      el.attributes.push({ name, raw: src.slice(j, k), start: attrStart, end: k, quote: "" });
      i = k;
    }
  }
}

export function checkWellFormed(source: string, rootName: string | null = "policies"): XmlError | undefined {
  const r = parsePolicyXml(source, rootName);
  return r.ok ? undefined : r.error;
}

export function formatXmlError(e: XmlError): string {
  return `line ${e.line}, column ${e.column}: ${e.message}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Queries

export function* walk(nodes: readonly XmlNode[]): Generator<XmlNode> {
  for (const node of nodes) {
    yield node;
    if (node.kind === "element") yield* walk(node.children);
  }
}

export function elements(doc: ParsedDocument): XmlElement[] {
  return [...walk(doc.nodes)].filter((x): x is XmlElement => x.kind === "element");
}

export function childElements(el: XmlElement, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => c.kind === "element" && (!name || c.name === name));
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);/g, (m, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

export function attributeValue(el: XmlElement, name: string): string | undefined {
  const a = el.attributes.find((x) => x.name === name);
  return a === undefined ? undefined : decodeEntities(a.raw);
}

function mustParse(source: string): ParsedDocument {
  const r = parsePolicyXml(source);
  if (!r.ok) throw new PolicyXmlError(r.error);
  return r.doc;
}

/** Thrown by the edit functions when the document is not well-formed; the reconciler never edits such a document. */
export class PolicyXmlError extends Error {
  readonly error: XmlError;
  constructor(error: XmlError) {
    super(formatXmlError(error));
    this.error = error;
  }
}

export function includeFragmentXml(fragmentId: string): string {
  return `<include-fragment fragment-id="${escapeXml(fragmentId)}" />`;
}

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`,
  );
}

/** Every `<include-fragment>` of this fragment, anywhere in the document (a person may have moved it). */
export function findIncludeFragment(source: string, fragmentId: string): XmlElement[] {
  return elements(mustParse(source)).filter(
    (e) => e.name === "include-fragment" && attributeValue(e, "fragment-id")?.trim() === fragmentId,
  );
}

export function markerComment(markerId: string): string {
  if (markerId.includes("--")) throw new Error(`marker id ${markerId} cannot contain "--"`);
  return `<!-- laio:ApimJwtPolicy ${markerId} -->`;
}

export interface InlineRule {
  marker: XmlLeaf;
  /** The validate-jwt right after the marker (only whitespace between), if still there. */
  element?: XmlElement;
  /** Span owned by the operator: marker through element. */
  start: number;
  end: number;
}

export function findInlineRule(source: string, markerId: string): InlineRule[] {
  const doc = mustParse(source);
  return findInlineRuleIn(doc, markerId);
}

function findInlineRuleIn(doc: ParsedDocument, markerId: string): InlineRule[] {
  const want = `laio:ApimJwtPolicy ${markerId}`;
  const out: InlineRule[] = [];
  for (const node of walk(doc.nodes)) {
    if (node.kind !== "comment") continue;
    if (doc.source.slice(node.start + 4, node.end - 3).trim() !== want) continue;
    const siblings = node.parent ? node.parent.children : doc.nodes;
    const idx = siblings.indexOf(node);
    let next = siblings[idx + 1];
    if (next?.kind === "text" && doc.source.slice(next.start, next.end).trim() === "")
      next = siblings[idx + 2];
    const element = next?.kind === "element" && next.name === "validate-jwt" ? next : undefined;
    out.push({ marker: node, element, start: node.start, end: element ? element.end : node.end });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Edits. One inserted "unit" (an include-fragment, or marker + validate-jwt) lands in <inbound> in one of three
// shapes, chosen so that each shape is recognisable again and removal restores the exact original bytes:
//   A. inbound has content:      `sep + unit` inserted after <base /> (or right after <inbound ...>), sep = non-empty
//                                 whitespace; removal drops the whitespace run before the unit and the unit.
//   B. inbound is self-closing:  `<inbound .../>` becomes `<inbound ...>unit</inbound>` (no whitespace at all);
//                                 removal turns it back into the self-closing tag.
//   C. no inbound at all:        `sep + <inbound>unit + sep + </inbound>` right after <policies ...>; removal drops
//                                 the whitespace run before <inbound> and the whole element.
// A never puts the unit directly after `>`, B has no trailing whitespace, C has: the shapes cannot be confused.

function wsRunStart(src: string, pos: number): number {
  let i = pos;
  while (i > 0 && isWs(src[i - 1])) i--;
  return i;
}

function indentOf(sep: string): string {
  const nl = sep.lastIndexOf("\n");
  return nl < 0 ? "" : sep.slice(nl + 1);
}

type UnitBuilder = (indent: string) => string;

function insertUnit(doc: ParsedDocument, unit: UnitBuilder): string {
  const src = doc.source;
  const root = doc.root;
  const inbound = childElements(root, "inbound")[0];
  if (!inbound) {
    if (root.selfClosing) {
      throw new PolicyXmlError({
        message: "<policies/> is empty; refusing to guess where the sections go",
        offset: root.start,
        ...lineColumn(src, root.start),
      });
    }
    const lead = src.slice(root.contentStart).match(/^\s*/)![0];
    const sep = lead !== "" ? lead : " ";
    const indent = indentOf(sep);
    const text = `${sep}<inbound>${unit(indent + INDENT_UNIT)}${sep}</inbound>`;
    return src.slice(0, root.contentStart) + text + src.slice(root.contentStart);
  }
  if (inbound.selfClosing) {
    const open = src.slice(inbound.start, inbound.end - 2) + ">";
    return src.slice(0, inbound.start) + open + unit("") + "</inbound>" + src.slice(inbound.end);
  }
  const base = childElements(inbound, "base")[0];
  let at: number;
  let sep: string;
  if (base) {
    at = base.end;
    const before = src.slice(wsRunStart(src, base.start), base.start);
    sep = before !== "" ? before : " ";
  } else {
    at = inbound.contentStart;
    const content = src.slice(inbound.contentStart, inbound.contentEnd);
    const lead = content.match(/^\s*/)![0];
    if (lead === "") sep = " ";
    else if (lead === content && lead.includes("\n")) sep = lead + INDENT_UNIT;
    else sep = lead;
  }
  return src.slice(0, at) + sep + unit(indentOf(sep)) + src.slice(at);
}

function removeUnit(src: string, parent: XmlElement | undefined, start: number, end: number): string {
  if (parent?.name === "inbound" && parent.contentStart === start) {
    const after = src.slice(end, parent.contentEnd);
    if (after === "") {
      // Shape B.
      const open = src.slice(parent.start, parent.startTagEnd);
      return src.slice(0, parent.start) + open.slice(0, -1) + "/>" + src.slice(parent.end);
    }
    if (after.trim() === "" && src.slice(parent.start, parent.startTagEnd) === "<inbound>") {
      // Shape C.
      return src.slice(0, wsRunStart(src, parent.start)) + src.slice(parent.end);
    }
  }
  return src.slice(0, wsRunStart(src, start)) + src.slice(end);
}

/** Adds `<include-fragment fragment-id="…" />` to <inbound>, after <base /> when present. Idempotent. */
export function insertIncludeFragment(source: string, fragmentId: string): string {
  if (findIncludeFragment(source, fragmentId).length > 0) return source;
  return insertUnit(mustParse(source), () => includeFragmentXml(fragmentId));
}

/** Removes every include of this fragment; the exact inverse of insertIncludeFragment. */
export function removeIncludeFragment(source: string, fragmentId: string): string {
  let out = source;
  for (;;) {
    const found = findIncludeFragment(out, fragmentId);
    const last = found[found.length - 1];
    if (!last) return out;
    out = removeUnit(out, last.parent, last.start, last.end);
  }
}

/**
 * Puts the include of `toId` where the first include of `fromId` is (a migration keeps the rule's position in the
 * document) and removes any other include of `fromId`. Without an include of `fromId` the document is unchanged.
 */
export function replaceIncludeFragment(source: string, fromId: string, toId: string): string {
  const first = findIncludeFragment(source, fromId)[0];
  if (!first) return source;
  if (findIncludeFragment(source, toId).length > 0) return removeIncludeFragment(source, fromId);
  const swapped = source.slice(0, first.start) + includeFragmentXml(toId) + source.slice(first.end);
  return removeIncludeFragment(swapped, fromId);
}

function reindent(ruleXml: string, indent: string): string {
  return ruleXml.replace(/\n/g, `\n${indent}`);
}

/**
 * Inline mode: puts `<!-- laio:ApimJwtPolicy {markerId} -->` and the given validate-jwt (rendered without base
 * indentation; multi-line is re-indented to the insertion point) into <inbound>, or replaces the validate-jwt after
 * an existing marker when it differs (compared canonically, so APIM's reformatting is not a change).
 */
export function upsertInlineRule(source: string, markerId: string, ruleXml: string): string {
  const doc = mustParse(source);
  const found = findInlineRuleIn(doc, markerId);
  const first = found[0];
  if (found.length === 1 && first?.element) {
    const el = first.element;
    const current = source.slice(el.start, el.end);
    if (canonicalEquals(current, ruleXml)) return source;
    const lineStart = source.lastIndexOf("\n", first.marker.start - 1) + 1;
    const lead = source.slice(lineStart, first.marker.start);
    const indent = lead.trim() === "" ? lead : "";
    return source.slice(0, el.start) + reindent(ruleXml, indent) + source.slice(el.end);
  }
  const clean = found.length > 0 ? removeInlineRule(source, markerId) : source;
  return insertUnit(mustParse(clean), (indent) => {
    const between = indent === "" ? " " : `\n${indent}`;
    return markerComment(markerId) + between + reindent(ruleXml, indent);
  });
}

/** Removes the marker and the validate-jwt after it; the exact inverse of upsertInlineRule on a fresh insert. */
export function removeInlineRule(source: string, markerId: string): string {
  let out = source;
  for (;;) {
    const found = findInlineRuleIn(mustParse(out), markerId);
    const last = found[found.length - 1];
    if (!last) return out;
    out = removeUnit(out, last.marker.parent, last.start, last.end);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Canonical comparison: what the gateway would see, ignoring formatting APIM may apply (indentation, line breaks,
// attribute order and quotes, self-closing vs empty, entity escaping, comments).

type Canon = { n: string; a: [string, string][]; c: (Canon | string)[] };

function canonNode(src: string, el: XmlElement): Canon {
  const a = el.attributes
    .map((x): [string, string] => [x.name, decodeEntities(x.raw)])
    .sort((p, q) => (p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : 0));
  const c: (Canon | string)[] = [];
  let text = "";
  const flush = (): void => {
    const t = text.trim();
    if (t !== "") c.push(t);
    text = "";
  };
  for (const child of el.children) {
    if (child.kind === "element") {
      flush();
      c.push(canonNode(src, child));
    } else if (child.kind === "text") text += decodeEntities(src.slice(child.start, child.end));
    else if (child.kind === "cdata") text += src.slice(child.start + 9, child.end - 3);
  }
  flush();
  return { n: el.name, a, c };
}

/** Canonical form of a document or element, or undefined when it does not parse. */
export function canonicalize(xml: string): string | undefined {
  const r = parsePolicyXml(xml, null);
  return r.ok ? JSON.stringify(canonNode(xml, r.doc.root)) : undefined;
}

export function canonicalEquals(a: string, b: string): boolean {
  const ca = canonicalize(a);
  return ca !== undefined && ca === canonicalize(b);
}
