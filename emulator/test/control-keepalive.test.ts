/**
 * The control client and the server's keep-alive timer (the 5,000-binding bench died of `read ECONNRESET`): a
 * process busy for longer than the server's keepAliveTimeout (under load, a JSON.parse of a large request log is
 * enough) sends its next control call on a pooled socket in the same turn of the event loop in which the server
 * closes that socket as idle. A small server with a 2 s keep-alive stands in for the emulator's 5 s one: the
 * shortest whose `Keep-Alive: timeout=2` hint leaves the client agent an idle timer of its own (1 s), which a busy
 * loop keeps from running, as it did in the bench. Fails without the retry in `EmulatorControl.call`.
 */
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EmulatorControl } from "../client.ts";
import { createTlsMaterial, type TlsMaterial } from "../tls.ts";

let tls: TlsMaterial;
let server: Server;
let control: EmulatorControl;
const seen = { connections: 0, requests: 0 };
/** When set, the server drops the connection instead of answering. */
let resetEveryRequest = false;

beforeAll(async () => {
  tls = await createTlsMaterial();
  server = createServer(
    { cert: tls.certPem, key: tls.keyPem, keepAliveTimeout: 2000, keepAliveTimeoutBuffer: 0 },
    (req, res) => {
      seen.requests++;
      if (resetEveryRequest) return void req.socket.destroy();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
    },
  );
  server.on("secureConnection", () => seen.connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  control = new EmulatorControl(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, tls.caPem);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  server.closeAllConnections();
  seen.connections = seen.requests = 0;
  resetEveryRequest = false;
});

/** Keeps the event loop busy, as a large synchronous parse on a loaded machine does. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe("EmulatorControl over a keep-alive connection the server closes as idle", () => {
  it("sends the call again on a new connection when the pooled one was reset before any answer", async () => {
    for (let i = 0; i < 2; i++) {
      await control.health();
      busy(2300);
      // Without the retry: `read ECONNRESET` (the server destroys the socket with this request unread).
      await expect(control.health()).resolves.toEqual({ ok: true });
    }
    // Every call reached the server exactly once: the reset request was never read, the retry was.
    expect(seen.requests).toBe(4);
    expect(seen.connections).toBeGreaterThanOrEqual(3);
  });

  it("does not retry a reset of a connection that was not reused: that failure is real", async () => {
    resetEveryRequest = true;
    await expect(control.health()).rejects.toThrow(/ECONNRESET|socket hang up/);
    expect(seen.requests).toBe(1);
  });
});
