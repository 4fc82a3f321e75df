/** `--tls-dir` pointing at a folder that does not exist yet: made, not an openssl stack trace (issue 15). */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createTlsMaterial } from "../tls.ts";

const root = await mkdtemp(join(tmpdir(), "tls-dir-test-"));
afterAll(() => rm(root, { recursive: true, force: true }));

describe("createTlsMaterial(dir)", () => {
  it("creates a missing directory (and its parents) and writes the CA there", async () => {
    const dir = join(root, "a", "b", "tls");
    const m = await createTlsMaterial(dir);
    expect(existsSync(join(dir, "ca.pem"))).toBe(true);
    expect(m.caPem).toContain("BEGIN CERTIFICATE");
    // A second start reuses the same CA.
    expect((await createTlsMaterial(dir)).caPem).toBe(m.caPem);
  });

  it("says plainly when the path is a file", async () => {
    const file = join(root, "not-a-dir");
    await writeFile(file, "x");
    await expect(createTlsMaterial(file)).rejects.toThrow(/is a file, not a directory/);
  });
});
