/**
 * Starts a real etcd + kube-apiserver on loopback (the envtest recipe), with certificates made by openssl and a
 * cluster-admin client-certificate kubeconfig. Used by the vitest global setup and by `npm run control-plane:up`.
 * Binaries come from hack/control-plane/build.sh (built from Go modules, cached outside the clone).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import https from "node:https";
import { readFileSync } from "node:fs";

const here = dirname(fileURLToPath(import.meta.url));

export interface ControlPlane {
  kubeconfig: string;
  server: string;
  dir: string;
  etcdPid: number;
  /** etcd's client URL (plain HTTP on loopback): the reliability matrix compacts through it to force 410 Gone. */
  etcdUrl: string;
  apiserverPid: number;
  stop(): Promise<void>;
  /** Kills and restarts kube-apiserver on the same port and data (drops every watch). */
  restartApiServer(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, e.g. ["--min-request-timeout=30"]. */
  apiServerArgs?: string[];
  dir?: string;
  log?: (line: string) => void;
}

/** Builds the binaries if needed and returns their directory. */
export function ensureBinaries(): string {
  const out = execFileSync(join(here, "build.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = out.trim().split("\n");
  return lines[lines.length - 1]!;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** CA, serving cert (SAN 127.0.0.1/localhost), service-account signer, client CA and an admin client cert. */
function makeCertificates(dir: string): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-subj", "/CN=laio-test-ca"],
    dir,
  );
  writeFileSync(
    join(dir, "san.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  openssl(
    ["req", ...ec, "-keyout", "apiserver.key", "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver"],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "apiserver.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "7",
      "-extfile",
      "san.ext",
      "-out",
      "apiserver.crt",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "sa-signer.key",
      "-out",
      "sa-signer.crt",
      "-days",
      "7",
      "-subj",
      "/CN=sa-signer",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "client-ca.key",
      "-out",
      "client-ca.crt",
      "-days",
      "7",
      "-subj",
      "/CN=laio-client-ca",
    ],
    dir,
  );
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  openssl(
    ["req", ...ec, "-keyout", "admin.key", "-out", "admin.csr", "-subj", "/O=system:masters/CN=admin"],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "admin.csr",
      "-CA",
      "client-ca.crt",
      "-CAkey",
      "client-ca.key",
      "-CAcreateserial",
      "-days",
      "7",
      "-extfile",
      "client.ext",
      "-out",
      "admin.crt",
    ],
    dir,
  );
}

function kubeconfigYaml(dir: string, server: string): string {
  const b64 = (f: string) => readFileSync(join(dir, f)).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ${server}
    certificate-authority-data: ${b64("ca.crt")}
users:
- name: admin
  user:
    client-certificate-data: ${b64("admin.crt")}
    client-key-data: ${b64("admin.key")}
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
`;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  proc?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: process exited with code ${proc.exitCode}`);
    try {
      if (await check()) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`);
}

function httpsGet(url: string, dir: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: readFileSync(join(dir, "ca.crt")),
        cert: readFileSync(join(dir, "admin.crt")),
        key: readFileSync(join(dir, "admin.key")),
        timeout: 2000,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

function httpGet(url: string): Promise<number> {
  return fetch(url).then((r) => r.status);
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const bin = ensureBinaries();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "laio-cp-"));
  mkdirSync(dir, { recursive: true });
  makeCertificates(dir);

  const etcdClient = await freePort();
  const etcdPeer = await freePort();
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const etcdLog = openSync(join(dir, "etcd.log"), "a");
  const etcd = spawn(
    join(bin, "etcd"),
    [
      `--data-dir=${join(dir, "etcd-data")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ],
    { stdio: ["ignore", etcdLog, etcdLog], detached: true },
  );
  etcd.unref();
  await waitFor("etcd", async () => (await httpGet(`${etcdUrl}/readyz`)) === 200, 30_000, etcd);
  log(`etcd ready on ${etcdUrl}`);

  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  const args = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${dir}`,
    `--tls-cert-file=${join(dir, "apiserver.crt")}`,
    `--tls-private-key-file=${join(dir, "apiserver.key")}`,
    `--client-ca-file=${join(dir, "client-ca.crt")}`,
    `--secure-port=${port}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    "--service-cluster-ip-range=10.0.0.0/24",
    "--authorization-mode=RBAC",
    "--disable-admission-plugins=ServiceAccount",
    "--endpoint-reconciler-type=none",
    "--allow-privileged=true",
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${join(dir, "sa-signer.crt")}`,
    `--service-account-signing-key-file=${join(dir, "sa-signer.key")}`,
    ...(options.apiServerArgs ?? []),
  ];
  let apiserver = startApiServer(bin, args, dir);
  await waitApiServer(server, dir, apiserver);
  log(`kube-apiserver ready on ${server}`);

  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, kubeconfigYaml(dir, server));
  writeFileSync(join(dir, "pids"), `${etcd.pid}\n${apiserver.pid}\n`);

  return {
    kubeconfig,
    server,
    dir,
    etcdPid: etcd.pid!,
    etcdUrl,
    get apiserverPid() {
      return apiserver.pid!;
    },
    async restartApiServer() {
      await kill(apiserver);
      apiserver = startApiServer(bin, args, dir);
      await waitApiServer(server, dir, apiserver);
      writeFileSync(join(dir, "pids"), `${etcd.pid}\n${apiserver.pid}\n`);
    },
    async stop() {
      await kill(apiserver);
      await kill(etcd);
      if (!options.dir && !process.env.LAIO_KEEP_CONTROL_PLANE_DIR)
        rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startApiServer(bin: string, args: string[], dir: string): ChildProcess {
  const out = openSync(join(dir, "kube-apiserver.log"), "a");
  const p = spawn(join(bin, "kube-apiserver"), args, { stdio: ["ignore", out, out], detached: true });
  p.unref();
  return p;
}

async function waitApiServer(server: string, dir: string, proc: ChildProcess): Promise<void> {
  await waitFor(
    "kube-apiserver",
    async () => (await httpsGet(`${server}/readyz`, dir)).status === 200,
    90_000,
    proc,
  );
}

async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.pid === undefined) return;
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Stops a control plane started by another process, from the pids file it wrote. */
export function stopByPidFile(dir: string): void {
  const file = join(dir, "pids");
  if (!existsSync(file)) return;
  for (const pid of readFileSync(file, "utf8").trim().split("\n").reverse()) {
    try {
      process.kill(Number(pid), "SIGTERM");
    } catch {
      /* already gone */
    }
  }
}
