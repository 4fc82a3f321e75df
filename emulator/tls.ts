import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
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
  const p = (f: string) => join(d, f);
  if (!(existsSync(p("ca.pem")) && existsSync(p("leaf.pem")) && existsSync(p("leaf.key")))) {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await run("openssl", [
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
    await run("openssl", [
      "req",
      ...ec,
      "-keyout",
      p("leaf.key"),
      "-out",
      p("leaf.csr"),
      "-subj",
      "/CN=localhost",
    ]);
    await writeFile(
      p("leaf.ext"),
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    );
    await run("openssl", [
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
