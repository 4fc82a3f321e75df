import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { SHARED_EXAMPLES, VENDORED_EXAMPLES } from "./examples-path.ts";

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)],
  );
}

describe("vendored Azure examples", () => {
  it("are the same as ../shared/azure-api-examples (run `npm run sync:examples` if not)", () => {
    if (!existsSync(SHARED_EXAMPLES)) {
      // CI clones may sit where ../shared does not exist; the vendored copy is then the source.
      expect(files(VENDORED_EXAMPLES).length).toBeGreaterThan(20);
      return;
    }
    const shared = files(SHARED_EXAMPLES)
      .map((f) => relative(SHARED_EXAMPLES, f))
      .sort();
    const vendored = files(VENDORED_EXAMPLES)
      .map((f) => relative(VENDORED_EXAMPLES, f))
      .sort();
    expect(vendored).toEqual(shared);
    for (const f of shared) {
      expect(readFileSync(join(VENDORED_EXAMPLES, f), "utf8"), f).toBe(
        readFileSync(join(SHARED_EXAMPLES, f), "utf8"),
      );
    }
  });
});
