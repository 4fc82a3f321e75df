/**
 * The one parser of ARM resource IDs, shared by the CRD schemas (as regular expressions and CEL), the reconcilers
 * and the tenancy matcher. It accepts only IDs whose text is already canonical, so that the scope written to Azure
 * is exactly the scope in the spec: ARM normalises `.`/`..` segments and percent-escapes on the way in, which made
 * `{rg}/providers/x/../..` land on the resource group and a `%2F` produce a grant the operator could not find again.
 */

export type Breadth = "managementGroup" | "subscription" | "resourceGroup" | "resource";

/** Widest first: a lower index is broader. */
export const BREADTHS: readonly Breadth[] = ["managementGroup", "subscription", "resourceGroup", "resource"];

export interface ArmId {
  /** Segments without the leading empty one, fixed segments in their canonical case. */
  segments: readonly string[];
  /** The canonical text: "/" + segments joined by "/". */
  text: string;
  breadth: Breadth;
  managementGroup?: string;
  subscription?: string;
  resourceGroup?: string;
  /** Provider namespace and type/name pairs of the (possibly nested) resource, e.g. Microsoft.Web + sites/x. */
  providers: ReadonlyArray<{ namespace: string; types: ReadonlyArray<{ type: string; name: string }> }>;
}

export type ParseResult = { ok: true; id: ArmId } | { ok: false; error: string };

/** Characters a segment may never hold: ARM or the HTTP layer would decode or split on them. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
const FORBIDDEN = /[%?#\\\s\u0000-\u001f\u007f]/u;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MG_PROVIDER = "Microsoft.Management";
const MG_TYPE = "managementGroups";

function fail(error: string): ParseResult {
  return { ok: false, error };
}

/** Parses an ARM ID, or says exactly why it is not a canonical one. */
export function parseArmId(input: string): ParseResult {
  if (input.length === 0) return fail("an ARM ID must not be empty");
  if (input.length > 2048) return fail("an ARM ID must be at most 2048 characters");
  if (!input.startsWith("/")) return fail("an ARM ID must start with '/'");
  if (input.endsWith("/")) return fail("an ARM ID must not end with '/'");
  const raw = input.slice(1).split("/");
  for (const s of raw) {
    if (s === "") return fail("an ARM ID must not contain an empty segment ('//')");
    if (s === "." || s === "..") return fail(`an ARM ID must not contain a '${s}' segment`);
    const bad = FORBIDDEN.exec(s);
    if (bad) return fail(`an ARM ID must not contain ${JSON.stringify(bad[0])} (in segment '${s}')`);
  }
  const seg = [...raw];
  const eq = (i: number, word: string) => seg[i]?.toLowerCase() === word.toLowerCase();
  let i: number;
  const out: Omit<ArmId, "text" | "breadth" | "segments"> & { breadth?: Breadth } = { providers: [] };
  if (eq(0, "providers") && eq(1, MG_PROVIDER) && eq(2, MG_TYPE)) {
    seg[0] = "providers";
    seg[1] = MG_PROVIDER;
    seg[2] = MG_TYPE;
    if (seg.length < 4) return fail("a management group ID needs the group's name");
    out.managementGroup = seg[3];
    out.breadth = "managementGroup";
    i = 4;
    if (seg.length > 4) return fail("resources under a management group are not supported");
  } else if (eq(0, "subscriptions")) {
    seg[0] = "subscriptions";
    const sub = seg[1];
    if (sub === undefined || !GUID.test(sub)) return fail("the subscription ID must be a GUID");
    out.subscription = sub;
    out.breadth = "subscription";
    i = 2;
    if (eq(2, "resourceGroups")) {
      seg[2] = "resourceGroups";
      const rg = seg[3];
      if (rg === undefined) return fail("'resourceGroups' must be followed by the group's name");
      if (!/^[-\w.()]{1,90}$/u.test(rg) || rg.endsWith("."))
        return fail(`'${rg}' is not a valid resource group name`);
      out.resourceGroup = rg;
      out.breadth = "resourceGroup";
      i = 4;
    }
  } else {
    return fail(
      "an ARM ID must start with /subscriptions/<guid> or /providers/Microsoft.Management/managementGroups/<name>",
    );
  }
  const providers: Array<{ namespace: string; types: Array<{ type: string; name: string }> }> = [];
  while (i < seg.length) {
    if (!eq(i, "providers")) return fail(`expected 'providers' at segment ${i + 1}, found '${seg[i]}'`);
    seg[i] = "providers";
    const namespace = seg[i + 1];
    if (namespace === undefined || !/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)+$/u.test(namespace))
      return fail("'providers' must be followed by a resource provider namespace such as Microsoft.Web");
    i += 2;
    const types: Array<{ type: string; name: string }> = [];
    while (i < seg.length && !eq(i, "providers")) {
      const type = seg[i]!;
      const name = seg[i + 1];
      if (name === undefined) return fail(`resource type '${type}' must be followed by a name`);
      types.push({ type, name });
      i += 2;
    }
    if (types.length === 0) return fail(`provider '${namespace}' must be followed by a type and a name`);
    providers.push({ namespace, types });
    out.breadth = "resource";
  }
  const breadth = out.breadth;
  return {
    ok: true,
    id: { ...out, providers, breadth, segments: seg, text: "/" + seg.join("/") },
  };
}

/** Like parseArmId, for callers that hold an ID already admitted by the CRD schema. */
export function mustParseArmId(input: string): ArmId {
  const r = parseArmId(input);
  if (!r.ok) throw new Error(`invalid ARM ID ${JSON.stringify(input)}: ${r.error}`);
  return r.id;
}

/**
 * Whether `child` is `parent` or lies under it, compared segment by segment and case-insensitively (ARM IDs are
 * case-insensitive), so `rg-a` never contains `rg-ab`.
 */
export function isWithin(child: ArmId | string, parent: ArmId | string): boolean {
  const c = typeof child === "string" ? parseArmId(child) : ({ ok: true, id: child } as const);
  const p = typeof parent === "string" ? parseArmId(parent) : ({ ok: true, id: parent } as const);
  if (!c.ok || !p.ok) return false;
  const cs = c.id.segments;
  const ps = p.id.segments;
  if (ps.length > cs.length) return false;
  return ps.every((s, i) => s.toLowerCase() === cs[i]!.toLowerCase());
}

export function sameArmId(a: ArmId | string, b: ArmId | string): boolean {
  return isWithin(a, b) && isWithin(b, a);
}

export function breadth(id: ArmId | string): Breadth | undefined {
  if (typeof id !== "string") return id.breadth;
  const r = parseArmId(id);
  return r.ok ? r.id.breadth : undefined;
}

/** Whether `b` is no broader than `max` (resource < resourceGroup < subscription < managementGroup). */
export function notBroaderThan(b: Breadth, max: Breadth): boolean {
  return BREADTHS.indexOf(b) >= BREADTHS.indexOf(max);
}

/**
 * RE2/V8 fragments for CRD `pattern`s. RE2 has no look-ahead, so "any segment but `.` and `..`" is spelled out:
 * a segment not starting with a dot, or a dot then a non-dot, or two dots then at least one more character.
 */
const SEG_CHAR = "[^/%?#\\\\\\s]";
const SEG_CHAR_NO_DOT = "[^/%?#\\\\\\s.]";
export const armIdFragments = {
  /** One canonical ARM ID segment. */
  segment: `(${SEG_CHAR_NO_DOT}${SEG_CHAR}*|\\.${SEG_CHAR_NO_DOT}${SEG_CHAR}*|\\.\\.${SEG_CHAR}+)`,
  guid: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
  /** Resource group names never end with a period (so `.` and `..` cannot be one). */
  resourceGroup: "[-\\w._()]{0,89}[-\\w_()]",
  providerNamespace: "[A-Za-z][A-Za-z0-9]*(\\.[A-Za-z0-9]+)+",
} as const;

const F = armIdFragments;
const SUB = `/(?i:subscriptions)/${F.guid}`;
const RG = `/(?i:resourceGroups)/${F.resourceGroup}`;
const PROVIDER_PART = `/(?i:providers)/${F.providerNamespace}(/${F.segment}/${F.segment})+`;
const MG = `/(?i:providers/Microsoft\\.Management/managementGroups)/${F.segment}`;

/** Anchored patterns an ID must match; each is a superset check, parseArmId is the full one. */
export const armIdPatterns = {
  /** Any ARM ID this parser accepts (also resources under a subscription, nested providers). */
  any: `^(${MG}|${SUB}(${RG})?(${PROVIDER_PART})*)$`,
  /** A role assignment scope: a subscription, a resource group or a resource in one. */
  scope: `^${SUB}(${RG}(${PROVIDER_PART})*)?$`,
} as const;

/**
 * CEL for "child is within parent" on strings already admitted by the patterns above: canonical text makes a
 * lower-cased prefix test that ends on a segment boundary equal to the segment-wise comparison.
 */
export function celWithin(child: string, parent: string): string {
  return `(${child}.lowerAscii() == ${parent}.lowerAscii() || ${child}.lowerAscii().startsWith(${parent}.lowerAscii() + '/'))`;
}

/**
 * CEL for the breadth rank of a canonical scope (0 managementGroup … 3 resource), from its segment count:
 * "/subscriptions/x" splits in 3, "/subscriptions/x/resourceGroups/y" in 5, a resource in more.
 */
export function celBreadthRank(id: string): string {
  return `(${id}.lowerAscii().startsWith('/providers/microsoft.management/') ? 0 : size(${id}.split('/')) <= 3 ? 1 : size(${id}.split('/')) <= 5 ? 2 : 3)`;
}
