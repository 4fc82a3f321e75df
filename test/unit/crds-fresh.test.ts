import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderCrdFiles } from "../../hack/crd-files.ts";

describe("generated CRDs", () => {
  it.each(renderCrdFiles())(
    "%s matches the TypeScript source (run `npm run gen:crds` if not)",
    (rel, content) => {
      const committed = readFileSync(new URL(`../../${rel}`, import.meta.url), "utf8");
      expect(committed).toBe(content);
    },
  );
});
