/**
 * Validation of manifests with the CRDs' own schema: the TypeBox values in src/api (the CRDs in crds/ are generated
 * from them, so this is the same schema the API server checks), plus the CRDs' CEL rules evaluated locally where
 * `LOCAL_CEL` holds an equivalent. A rule without one is reported as not evaluated (plan says so); `--cluster`
 * also asks the API server itself (server-side dry-run create), which evaluates every rule.
 */
import { isDeepStrictEqual } from "node:util";
import { FormatRegistry, Kind, TypeRegistry, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { CelRule } from "../../api/v1alpha1/schema-helpers.ts";

// StringEnum is a Type.Unsafe (a plain `enum` for the CRD): TypeBox needs to be told how to check it.
if (!TypeRegistry.Has("Unsafe"))
  TypeRegistry.Set("Unsafe", (schema: { enum?: unknown[]; type?: string }, value: unknown) =>
    schema.enum ? schema.enum.includes(value) : schema.type === "string" ? typeof value === "string" : true,
  );
if (!FormatRegistry.Has("date-time"))
  FormatRegistry.Set("date-time", (v) => !Number.isNaN(Date.parse(v)) && /^\d{4}-\d\d-\d\dT/.test(v));

type Json = Record<string, unknown>;
const has = (o: unknown, k: string): boolean =>
  typeof o === "object" && o !== null && (o as Json)[k] !== undefined;

/**
 * Every CEL rule of the CRDs that plan evaluates without an API server, by its exact text. A test
 * (validate.test.ts) walks the CRDs and fails when a rule has no entry here and is not in NOT_LOCAL, so a new rule
 * is either given an equivalent or listed honestly.
 */
export const LOCAL_CEL: Readonly<Record<string, (self: unknown) => boolean>> = {
  "has(self.names) || has(self.selector)": (s) => has(s, "names") || has(s, "selector"),
  "self.type == 'UserAssigned' ? has(self.userAssignedIdentityId) : !has(self.userAssignedIdentityId)": (
    s,
  ) =>
    (s as Json).type === "UserAssigned"
      ? has(s, "userAssignedIdentityId")
      : !has(s, "userAssignedIdentityId"),
  "!self.trim().startsWith('@') && !self.contains('{{')": (s) =>
    typeof s === "string" && !s.trim().startsWith("@") && !s.includes("{{"),
  "!(has(self.productId) && has(self.apiId))": (s) => !(has(s, "productId") && has(s, "apiId")),
  "!has(self.operationId) || has(self.apiId)": (s) => !has(s, "operationId") || has(s, "apiId"),
  "has(self.bindingRef) || (has(self.audiences) && size(self.audiences) > 0)": (s) =>
    has(s, "bindingRef") ||
    (Array.isArray((s as Json).audiences) && ((s as Json).audiences as unknown[]).length > 0),
  "has(self.bindingRef) || has(self.tenantId)": (s) => has(s, "bindingRef") || has(s, "tenantId"),
  "has(self.api) != has(self.apiRegistrationRef)": (s) => has(s, "api") !== has(s, "apiRegistrationRef"),
  "!self.endsWith('/')": (s) => typeof s === "string" && !s.endsWith("/"),
  // CEL's == on maps ignores key order, as isDeepStrictEqual does on plain objects.
  "self.all(x, self.exists_one(y, y == x))": (s) =>
    Array.isArray(s) && s.every((x) => s.filter((y) => isDeepStrictEqual(x, y)).length === 1),
};

/** Transition rules need the stored object: only the API server (--cluster dry-run) evaluates them. */
export const NOT_LOCAL: ReadonlySet<string> = new Set(["self == oldSelf"]);

export interface Problem {
  path: string;
  message: string;
}

/** Schema errors (TypeBox) and CEL verdicts for `value` against `schema`; paths start at `at`. */
export function validateAgainst(schema: TSchema, value: unknown, at: string): Problem[] {
  const problems: Problem[] = [];
  if (!Value.Check(schema, value)) {
    const seen = new Set<string>();
    for (const e of Value.Errors(schema, value)) {
      const path = `${at}${e.path.replaceAll("/", ".")}`;
      const k = `${path}|${e.message}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const allowed = (e.schema as { enum?: unknown[] }).enum;
      problems.push({ path, message: allowed ? `must be one of ${allowed.join(", ")}` : e.message });
      if (problems.length >= 10) break;
    }
  }
  problems.push(...celProblems(schema, value, at));
  return problems;
}

/** Walks schema and value together and evaluates the CEL rules found on the way (where the value is present). */
function celProblems(schema: TSchema, value: unknown, at: string): Problem[] {
  if (value === undefined) return [];
  const out: Problem[] = [];
  const rules = (schema as { "x-kubernetes-validations"?: CelRule[] })["x-kubernetes-validations"] ?? [];
  for (const r of rules) {
    const local = LOCAL_CEL[r.rule];
    if (!local) continue;
    let ok: boolean;
    try {
      ok = local(value);
    } catch {
      // A value of the wrong shape fails the rule (the schema error says why).
      ok = false;
    }
    if (!ok) out.push({ path: at, message: r.message });
  }
  const kind = (schema as { [Kind]?: string })[Kind];
  if (kind === "Object" && typeof value === "object" && value !== null) {
    const props = (schema as unknown as { properties: Record<string, TSchema> }).properties;
    for (const [k, s] of Object.entries(props)) out.push(...celProblems(s, (value as Json)[k], `${at}.${k}`));
  } else if (kind === "Array" && Array.isArray(value)) {
    const items = (schema as unknown as { items: TSchema }).items;
    value.forEach((v, i) => out.push(...celProblems(items, v, `${at}[${i}]`)));
  }
  return out;
}

/** Every CEL rule text in a schema (for the honesty test and for `plan`'s note on what was not evaluated). */
export function celRulesOf(schema: unknown, acc: Set<string> = new Set()): Set<string> {
  if (Array.isArray(schema)) for (const s of schema) celRulesOf(s, acc);
  else if (typeof schema === "object" && schema !== null) {
    for (const r of (schema as { "x-kubernetes-validations"?: CelRule[] })["x-kubernetes-validations"] ?? [])
      acc.add(r.rule);
    for (const v of Object.values(schema)) celRulesOf(v, acc);
  }
  return acc;
}
