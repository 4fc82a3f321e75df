/**
 * /metrics, /healthz and /readyz. Checks are named functions; a failing check is listed in the response body so
 * `kubectl describe pod` shows which one failed.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Check = () => boolean | string;

export interface Routes {
  metrics?: () => Promise<string>;
  /** Liveness: the process can make progress. */
  health?: Map<string, Check>;
  /** Readiness: caches synced and, for the leader, workers running. */
  ready?: Map<string, Check>;
}

function runChecks(checks: Map<string, Check> | undefined): { ok: boolean; body: string } {
  const lines: string[] = [];
  let ok = true;
  for (const [name, check] of checks ?? []) {
    let result: boolean | string;
    try {
      result = check();
    } catch (err) {
      result = String(err);
    }
    if (result === true) lines.push(`[+] ${name} ok`);
    else {
      ok = false;
      lines.push(`[-] ${name} failed${typeof result === "string" ? `: ${result}` : ""}`);
    }
  }
  lines.push(ok ? "ok" : "not ok");
  return { ok, body: lines.join("\n") + "\n" };
}

/** Splits "host:port" / ":port" into listen arguments (":port" listens on all interfaces). */
export function parseAddr(addr: string): { host: string | undefined; port: number } {
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i);
  return { host: host === "" ? undefined : host.replace(/^\[|\]$/g, ""), port: Number(addr.slice(i + 1)) };
}

export class HttpEndpoint {
  private readonly server: http.Server;

  constructor(routes: Routes) {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      const send = (code: number, body: string, type = "text/plain; charset=utf-8") => {
        res.writeHead(code, { "Content-Type": type });
        res.end(body);
      };
      if (path === "/metrics" && routes.metrics) {
        routes.metrics().then(
          (text) => send(200, text, "text/plain; version=0.0.4; charset=utf-8"),
          (err: unknown) => send(500, String(err)),
        );
      } else if ((path === "/healthz" || path === "/livez") && routes.health) {
        const r = runChecks(routes.health);
        send(r.ok ? 200 : 500, r.body);
      } else if (path === "/readyz" && routes.ready) {
        const r = runChecks(routes.ready);
        send(r.ok ? 200 : 503, r.body);
      } else {
        send(404, "not found\n");
      }
    });
  }

  async listen(addr: string): Promise<number> {
    const { host, port } = parseAddr(addr);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
