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

/**
 * Given `src[open]` is `(` or `{` right after an `@`, returns the offset after the matching bracket, or -1 when the
 * expression does not close. Brackets inside C# strings, chars and comments do not count.
 */
export function scanExpression(src: string, open: number): number {
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
      // A char literal is at most a few characters ('x', '\n', '\u0041'); anything else is not one.
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

function scanAttributeValue(src: string, pos: number, quote: '"' | "'"): number {
  const valueStart = pos + 1;
  if (src[valueStart] === "@" && (src[valueStart + 1] === "(" || src[valueStart + 1] === "{")) {
    let e = scanExpression(src, valueStart + 1);
    if (e > 0) {
      while (isWs(src[e])) e++;
      if (src[e] === quote) return e;
    }
  }
  const close = src.indexOf(quote, valueStart);
  if (close < 0) throw new ScanError("attribute value is not closed", pos);
  return close;
}

/** Parses a policy (or fragment) document. `rootName` null accepts any single root element. */
export function parsePolicyXml(source: string, rootName: string | null = "policies"): ParseResult {
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
  const top: XmlNode[] = [];
  const stack: XmlElement[] = [];
  const n = src.length;
  let pos = src.startsWith("\uFEFF") ? 1 : 0;
  let textStart = -1;

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
        pos = scanStartTag(src, pos, stack, addNode);
        continue;
      }
      // A lone `<` (e.g. `a < b` in text) is tolerated as text.
    }
    if (textStart < 0) textStart = pos;
    if (c === "@" && (src[pos + 1] === "(" || src[pos + 1] === "{")) {
      // Element text that is an expression (possibly after whitespace or a quote) may contain `<` as C#.
      const before = src.slice(textStart, pos);
      if (/^[\s"']*$/.test(before)) {
        const e = scanExpression(src, pos + 1);
        if (e > 0) {
          pos = e;
          continue;
        }
      }
    }
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
      const close = scanAttributeValue(src, j, q);
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
