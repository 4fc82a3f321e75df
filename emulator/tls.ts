import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TlsMaterial {
  dir: string;
  caPath: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * A throw-away CA and a leaf for localhost/127.0.0.1 signed by it, made with the openssl CLI (Node has no
 * certificate builder). Clients trust the CA via NODE_EXTRA_CA_CERTS or `tlsOptions.ca`. When `dir` already holds
 * a previous run's files they are reused, so a standalone emulator keeps a stable CA across restarts.
 */
export async function createTlsMaterial(dir?: string): Promise<TlsMaterial> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), "azure-emulator-")));
  if (dir !== undefined) await ensureDirectory(dir);
  const p = (f: string) => join(d, f);
  if (!(existsSync(p("ca.pem")) && existsSync(p("leaf.pem")) && existsSync(p("leaf.key")))) {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      p("ca.key"),
      "-out",
      p("ca.pem"),
      "-days",
      "30",
      "-subj",
      "/CN=Azure Emulator Test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    await openssl(["req", ...ec, "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=localhost"]);
    await writeFile(
      p("leaf.ext"),
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      p("leaf.csr"),
      "-CA",
      p("ca.pem"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-out",
      p("leaf.pem"),
      "-days",
      "30",
      "-extfile",
      p("leaf.ext"),
    ]);
  }
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(p("ca.pem"), "utf8"),
    readFile(p("leaf.pem"), "utf8"),
    readFile(p("leaf.key"), "utf8"),
  ]);
  return { dir: d, caPath: p("ca.pem"), caPem, certPem, keyPem };
}

/** A --tls-dir that does not exist yet is made (as `mkdir -p`); one that cannot be used says why, not openssl. */
async function ensureDirectory(dir: string): Promise<void> {
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new Error(
      `--tls-dir ${dir} is a file, not a directory: pass a directory (it is created if missing)`,
    );
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new Error(`--tls-dir ${dir} cannot be created (${code}): pass a writable directory`, { cause: e });
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === "ENOENT")
      throw new Error("the emulator needs the openssl CLI to make its certificates: install openssl", {
        cause: e,
      });
    const detail = (err.stderr ?? "").trim().split("\n")[0] ?? "";
    throw new Error(`openssl ${args[0]} failed (${detail}): check that the TLS directory is writable`, {
      cause: e,
    });
  }
}
