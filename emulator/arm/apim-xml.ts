/**
 * Just enough XML for API Management policy documents. The parser is lenient like the service's `rawxml` reader
 * (a `<` not followed by a name, or a stray `&`, is text, so C# policy expressions survive); the serialiser mimics
 * .NET's XmlWriter: `\r\n` line breaks, two-space indentation, ` />` for empty elements, `&gt;` in text, `&#x9;` in
 * attributes, mixed-content elements written verbatim.
 */

export type XmlNode =
  | { kind: "element"; name: string; attrs: [string, string][]; children: XmlNode[]; selfClosed: boolean }
  | { kind: "text"; value: string }
  | { kind: "comment"; value: string }
  | { kind: "cdata"; value: string }
  | { kind: "pi"; value: string };

export class XmlError extends Error {}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decode(s: string, strict: boolean): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);|&/gi, (m, ent: string | undefined) => {
    if (!ent) {
      if (strict) throw new XmlError("An unescaped '&' was found in the document.");
      return m;
    }
    if (ent.startsWith("#x") || ent.startsWith("#X")) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith("#")) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    const v = ENTITIES[ent.toLowerCase()];
    if (v === undefined) {
      if (strict) throw new XmlError(`Reference to undeclared entity '${ent}'.`);
      return m;
    }
    return v;
  });
}

/** Parses a document. `strict` is the `xml` format (entities required); otherwise the lenient `rawxml` reading. */
export function parseXml(src: string, strict: boolean): XmlNode[] {
  const root: XmlNode[] = [];
  const stack: Extract<XmlNode, { kind: "element" }>[] = [];
  const push = (n: XmlNode) => (stack.length ? stack[stack.length - 1]!.children : root).push(n);
  let i = 0;
  let text = "";
  const flush = () => {
    if (text) push({ kind: "text", value: decode(text, strict) });
    text = "";
  };
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1] ?? "";
    if (c !== "<" || !/[A-Za-z_!?/:]/.test(next)) {
      if (c === "<" && strict) throw new XmlError(`Unexpected '<' at position ${i}.`);
      text += c;
      i++;
      continue;
    }
    flush();
    if (src.startsWith("<!--", i)) {
      const end = src.indexOf("-->", i + 4);
      if (end < 0) throw new XmlError("Unterminated comment.");
      push({ kind: "comment", value: src.slice(i + 4, end) });
      i = end + 3;
    } else if (src.startsWith("<![CDATA[", i)) {
      const end = src.indexOf("]]>", i + 9);
      if (end < 0) throw new XmlError("Unterminated CDATA section.");
      push({ kind: "cdata", value: src.slice(i + 9, end) });
      i = end + 3;
    } else if (next === "?") {
      const end = src.indexOf("?>", i + 2);
      if (end < 0) throw new XmlError("Unterminated processing instruction.");
      push({ kind: "pi", value: src.slice(i + 2, end) });
      i = end + 2;
    } else if (next === "/") {
      const end = src.indexOf(">", i);
      const name = src.slice(i + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new XmlError(`The '${open?.name ?? ""}' start tag does not match the end tag of '${name}'.`);
      }
      i = end + 1;
    } else {
      i = parseStartTag(src, i + 1, strict, stack, push);
    }
  }
  flush();
  if (stack.length)
    throw new XmlError(`Unexpected end of file; '${stack[stack.length - 1]!.name}' is not closed.`);
  if (!root.some((n) => n.kind === "element")) throw new XmlError("Root element is missing.");
  return root;
}

function parseStartTag(
  src: string,
  start: number,
  strict: boolean,
  stack: Extract<XmlNode, { kind: "element" }>[],
  push: (n: XmlNode) => void,
): number {
  let i = start;
  const nameMatch = /^[A-Za-z_:][\w:.-]*/.exec(src.slice(i));
  if (!nameMatch) throw new XmlError(`Invalid element name at position ${i}.`);
  const name = nameMatch[0];
  i += name.length;
  const attrs: [string, string][] = [];
  for (;;) {
    while (/\s/.test(src[i] ?? "")) i++;
    if (i >= src.length) throw new XmlError(`Unterminated start tag '${name}'.`);
    if (src.startsWith("/>", i)) {
      push({ kind: "element", name, attrs, children: [], selfClosed: true });
      return i + 2;
    }
    if (src[i] === ">") {
      const el = { kind: "element" as const, name, attrs, children: [] as XmlNode[], selfClosed: false };
      push(el);
      stack.push(el);
      return i + 1;
    }
    const an = /^[A-Za-z_:][\w:.-]*/.exec(src.slice(i));
    if (!an) throw new XmlError(`Invalid attribute in '${name}' at position ${i}.`);
    i += an[0].length;
    while (/\s/.test(src[i] ?? "")) i++;
    if (src[i] !== "=") throw new XmlError(`Attribute '${an[0]}' has no value.`);
    i++;
    while (/\s/.test(src[i] ?? "")) i++;
    const q = src[i];
    if (q !== '"' && q !== "'") throw new XmlError(`Attribute '${an[0]}' value is not quoted.`);
    const end = src.indexOf(q, i + 1);
    if (end < 0) throw new XmlError(`Unterminated attribute '${an[0]}'.`);
    attrs.push([an[0], decode(src.slice(i + 1, end), strict)]);
    i = end + 1;
  }
}

const escText = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escAttr = (s: string): string =>
  escText(s).replace(/"/g, "&quot;").replace(/\t/g, "&#x9;").replace(/\n/g, "&#xA;").replace(/\r/g, "&#xD;");

export interface SerializeOptions {
  /** XmlWriter Indent=true (policies) or whitespace preserved as parsed (fragments, raw). */
  indent: boolean;
  /** Entity-escape text and attributes (the `xml` format); false writes expressions as they are (`rawxml`). */
  escape: boolean;
}

function open(n: Extract<XmlNode, { kind: "element" }>, o: SerializeOptions): string {
  const attrs = n.attrs
    .map(([k, v]) => ` ${k}="${o.escape ? escAttr(v) : v.replace(/"/g, "&quot;")}"`)
    .join("");
  return `<${n.name}${attrs}`;
}

function inline(n: XmlNode, o: SerializeOptions): string {
  switch (n.kind) {
    case "text":
      return o.escape ? escText(n.value) : n.value;
    case "comment":
      return `<!--${n.value}-->`;
    case "cdata":
      return `<![CDATA[${n.value}]]>`;
    case "pi":
      return `<?${n.value}?>`;
    case "element":
      if (n.children.length === 0) return n.selfClosed ? `${open(n, o)} />` : `${open(n, o)}></${n.name}>`;
      return `${open(n, o)}>${n.children.map((c) => inline(c, o)).join("")}</${n.name}>`;
  }
}

const significant = (n: XmlNode): boolean => !(n.kind === "text" && n.value.trim() === "");

function indented(n: XmlNode, depth: number, o: SerializeOptions): string {
  const pad = "  ".repeat(depth);
  if (n.kind !== "element") return pad + inline(n, o);
  const kids = n.children.filter(significant);
  if (kids.length === 0) return pad + inline({ ...n, children: [] }, o);
  // Text content (mixed or not): XmlWriter stops indenting inside the element and writes it as it is.
  if (kids.some((c) => c.kind === "text" || c.kind === "cdata")) return pad + inline(n, o);
  return `${pad}${open(n, o)}>\r\n${kids.map((c) => indented(c, depth + 1, o)).join("\r\n")}\r\n${pad}</${n.name}>`;
}

export function serializeXml(nodes: XmlNode[], o: SerializeOptions): string {
  if (!o.indent) return nodes.map((n) => inline(n, o)).join("");
  return nodes
    .filter(significant)
    .map((n) => indented(n, 0, o))
    .join("\r\n");
}

/** The root element, when there is exactly one. */
export function rootElement(nodes: XmlNode[]): Extract<XmlNode, { kind: "element" }> | undefined {
  const els = nodes.filter((n): n is Extract<XmlNode, { kind: "element" }> => n.kind === "element");
  return els.length === 1 ? els[0] : undefined;
}

/** `fragment-id`s of every `<include-fragment>` in a document (raw text scan, so unparsable drafts count too). */
export function includedFragments(raw: string): string[] {
  return [...raw.matchAll(/<include-fragment\b[^>]*\bfragment-id\s*=\s*["']([^"']+)["']/gi)].map((m) =>
    m[1]!.toLowerCase(),
  );
}
