/** The published JSON Schema text (docs/evidence.schema.json), generated so it cannot drift from the code. */
import { EvidenceSchema } from "./schema.ts";

export function evidenceSchemaJson(): string {
  const plain = JSON.parse(JSON.stringify(EvidenceSchema)) as Record<string, unknown>;
  return (
    JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", ...plain }, null, 2) + "\n"
  );
}
