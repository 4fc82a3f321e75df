/**
 * Where the official Azure examples are read from. A verbatim copy lives in this repository
 * (emulator/test/azure-api-examples, synced by `npm run sync:examples` from ../shared/azure-api-examples) so the
 * conformance test runs wherever CI clones the repository; `examples-fresh.test.ts` fails when the copy falls
 * behind ../shared. LAIO_AZURE_EXAMPLES points elsewhere.
 */
import { fileURLToPath } from "node:url";

export const VENDORED_EXAMPLES = fileURLToPath(new URL("./azure-api-examples/", import.meta.url));
export const SHARED_EXAMPLES = fileURLToPath(new URL("../../../shared/azure-api-examples/", import.meta.url));
export const EXAMPLES = process.env.LAIO_AZURE_EXAMPLES ?? VENDORED_EXAMPLES;
/** Official examples this repository added after the copy (not in ../shared): see its README. */
export const EXTRA_EXAMPLES = fileURLToPath(new URL("./azure-api-examples-extra/", import.meta.url));
