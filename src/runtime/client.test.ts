import { KubeConfig } from "@kubernetes/client-node";
import { getEventListeners } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError, KubeClient } from "./client.ts";

describe("KubeClient and a long-lived abort signal", () => {
  let server: http.Server;
  let client: KubeClient;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url?.startsWith("/hang")) return; // never answers: only an abort ends it
      const found = !req.url?.startsWith("/missing");
      res.writeHead(found ? 200 : 404, { "Content-Type": "application/json" });
      res.end(JSON.stringify(found ? { ok: true, pad: "x".repeat(4096) } : { reason: "NotFound" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        // http for a local test server: client-node refuses it unless TLS checks are off.
        {
          name: "c",
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    client = new KubeClient(kc);
  });
  afterAll(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("leaves no listener on the signal once requests are over, answered or failed", async () => {
    // A controller's shutdown signal: one for the whole process, handed to every request.
    const shutdown = new AbortController();
    for (let i = 0; i < 40; i++) {
      const path = i % 4 === 0 ? "/missing" : "/ok";
      await client.request("GET", path, { signal: shutdown.signal }).catch((e: unknown) => {
        expect(e).toBeInstanceOf(KubeApiError);
      });
    }
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
  });

  it("still aborts a request in flight", async () => {
    const shutdown = new AbortController();
    const pending = client.request("GET", "/hang", { signal: shutdown.signal });
    await new Promise((r) => setTimeout(r, 50));
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(1);
    shutdown.abort();
    await expect(pending).rejects.toThrow("aborted");
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
  });
});
