/**
 * Small builders on top of TypeBox that emit *structural* OpenAPI v3 (what the API server accepts in a CRD):
 * every node has a `type`, enums are string enums (not anyOf of literals), and CEL rules ride along as
 * `x-kubernetes-validations`. The same value gives the TypeScript type (Static<>) and the CRD schema.
 */
import { Type, type TSchema, type SchemaOptions, type TUnsafe } from "@sinclair/typebox";

export interface CelRule {
  rule: string;
  message: string;
  /** Field path the API server reports in the error, so `kubectl apply` names the field. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

export type Described<T extends SchemaOptions = SchemaOptions> = T & { description: string };

export function StringEnum<const V extends readonly string[]>(
  values: V,
  options: Described & { default?: V[number] },
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: "string", enum: [...values], ...options });
}

export function cel(...rules: CelRule[]): { "x-kubernetes-validations": CelRule[] } {
  return { "x-kubernetes-validations": rules };
}

/** Strips TypeBox's symbol keys and returns a plain JSON schema object. */
export function toOpenApi(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}
