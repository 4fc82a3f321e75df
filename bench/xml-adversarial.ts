/**
 * Policy documents built to make a careless XML/expression scanner quadratic (each shape repeated up to a size):
 * shared by the unit tests that count the scanner's work (src/controllers/jwt-policy/xml-linear.test.ts) and by the
 * benchmark that times parsing and deciding them (./xml-parse.ts).
 */
export const ADVERSARIAL: Record<string, string> = {
  "unclosed @( in attributes": '<set-variable name="v" value="@(x" />',
  "unclosed @( in element text": "<value>@(</value>",
  "unclosed @{ in attributes": '<set-variable name="v" value="@{x" />',
  "strings that shift phase": "<a x='@(\"' />",
  "line comments on one line": '<a x="@(//" />',
  "unclosed block comments": '<a x="@(/*" />',
  "deep expression nesting": '<a x="@(((((((((((((((((((((((((((((((" />',
  "long attribute values": `<a x="${"y".repeat(4000)}" />`,
  "many comments": "<!-- <!-- <!-- x -->",
  "CDATA sections": "<value><![CDATA[ @( <a> ]]></value>",
  "nested elements": "<choose><when condition='@(true'>",
};

/** `unit` repeated to about `chars` characters inside `<policies><inbound>`. */
export function adversarialDocument(unit: string, chars: number): string {
  const body = unit.repeat(Math.max(1, Math.floor(chars / unit.length)));
  return `<policies><inbound>${body}</inbound></policies>`;
}
