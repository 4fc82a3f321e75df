/** Writes docs/evidence.schema.json from src/cli/evidence/schema.ts: `npm exec -- node hack/gen-evidence-schema.ts`. */
import { writeFileSync } from "node:fs";
import { evidenceSchemaJson } from "../src/cli/evidence/schema-json.ts";

writeFileSync(new URL("../docs/evidence.schema.json", import.meta.url), evidenceSchemaJson());
console.log("wrote docs/evidence.schema.json (run npx prettier --write docs/evidence.schema.json)");
