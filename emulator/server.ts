import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHash, randomUUID } from "node:crypto";
import { handleControl } from "./control.ts";
import { armError, graphError, HttpError, type Api, type Ctx, type Reply, type Route } from "./http.ts";
import { subscriptionOf } from "./arm/common.ts";
import { matchRoute } from "./routes.ts";
import type { Runtime } from "./runtime.ts";
import type { TlsMaterial } from "./tls.ts";
import { mangleBody, type Fault } from "./faults.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** `//` after the host is collapsed (the SDK produces it for scopes with a leading slash); segments are decoded. */
export function normalisePath(rawPath: string): string {
  const collapsed = rawPath.replace(/\/{2,}/g, "/");
  try {
    return decodeURIComponent(collapsed);
  } catch {
    return collapsed;
  }
}

function errorFor(api: Api, status: number, code: string, message: string): HttpError {
  return api === "arm" ? armError(status, code, message) : graphError(status, code, message);
}

function defaultCode(status: number): string {
  return (
    {
      429: "TooManyRequests",
      500: "InternalServerError",
      502: "BadGateway",
      503: "ServiceUnavailable",
      504: "GatewayTimeout",
    }[status] ?? `Http${status}`
  );
}

function checkApiVersion(route: Route, query: URLSearchParams): void {
  if (route.api !== "arm" || !route.apiVersions) return;
  const v = query.get("api-version");
  if (!v) {
    throw armError(
      400,
      "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.",
    );
  }
  if (!route.apiVersions.includes(v)) {
    throw armError(
      400,
      "NoRegisteredProviderFound",
      `No registered resource provider found for location 'global' and API version '${v}' for type '${route.resourceType}'. The supported api-versions are '${route.apiVersions.join(", ")}'.`,
    );
  }
}

export interface EmulatorServer {
  server: Server;
  /** Releases requests held by `timeout` faults so the server can close. */
  releaseHung(): void;
}

export function createEmulatorServer(rt: Runtime, tls: TlsMaterial): EmulatorServer {
  const hung = new Set<ServerResponse>();

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    // Collapse `//` before URL parsing: `//subscriptions/…` would otherwise read as a host name.
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const url = new URL(
      (q < 0 ? rawUrl : rawUrl.slice(0, q)).replace(/\/{2,}/g, "/") + (q < 0 ? "" : rawUrl.slice(q)),
      "https://emulator",
    );
    const path = normalisePath(url.pathname);
    const method = (req.method ?? "GET").toUpperCase();
    const baseUrl = `https://${req.headers.host ?? "localhost"}`;
    const rawBody = await readBody(req);
    const api: Api = /^\/v1\.0\//i.test(path) ? "graph" : "arm";
    let body: unknown;
    const send = (reply: Reply, extraHeaders: Record<string, string> = {}) => {
      const requestId = randomUUID();
      const headers: Record<string, string> = {
        ...(api === "arm"
          ? {
              "x-ms-request-id": requestId,
              "x-ms-correlation-request-id": String(req.headers["x-ms-correlation-request-id"] ?? requestId),
            }
          : {
              "request-id": requestId,
              "client-request-id": String(req.headers["client-request-id"] ?? requestId),
            }),
        ...extraHeaders,
        ...reply.headers,
      };
      const payload = reply.body === undefined || method === "HEAD" ? "" : JSON.stringify(reply.body);
      if (reply.body !== undefined) headers["content-type"] = "application/json; charset=utf-8";
      res.writeHead(reply.status, headers);
      res.end(payload);
    };

    if (path.startsWith("/_emulator/") || path === "/_emulator") {
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
        send(
          await handleControl(
            rt,
            { method, path, query: url.searchParams, headers: req.headers, rawBody, body, baseUrl, rt },
            tls,
          ),
        );
      } catch (e) {
        send(
          e instanceof HttpError
            ? e.reply
            : { status: 500, body: { error: { code: "ControlError", message: String(e) } } },
        );
      }
      return;
    }

    const match = matchRoute(method, path);
    const operation =
      "route" in match
        ? typeof match.route.operation === "string"
          ? match.route.operation
          : match.route.operation(match.params)
        : `${method} (unrouted)`;
    const subscriptionId = api === "arm" ? subscriptionOf(path) : undefined;
    const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ""))?.[1];
    const logged: { status: number; outcome: "response" | "reset" | "timeout"; faults: Fault[] } = {
      status: 0,
      outcome: "response",
      faults: [],
    };
    const log = () =>
      rt.log.add({
        time: new Date(started).toISOString(),
        api,
        method,
        path,
        query: url.search,
        operation,
        status: logged.status,
        outcome: logged.outcome,
        durationMs: Date.now() - started,
        subscriptionId,
        bearer,
        faultIds: logged.faults.length ? logged.faults.map((f) => f.id) : undefined,
        bodyHash: rawBody ? createHash("sha256").update(rawBody).digest("hex").slice(0, 16) : undefined,
      });
    let throttleHeaders: Record<string, string> = {};
    const reply = async (): Promise<Reply | "handled"> => {
      if (!bearer) {
        throw api === "arm"
          ? armError(
              401,
              "AuthenticationFailed",
              "Authentication failed. The 'Authorization' header is missing.",
            )
          : graphError(401, "InvalidAuthenticationToken", "Access token is empty.");
      }
      if (!("route" in match)) {
        throw match.pathKnown
          ? errorFor(
              api,
              405,
              "MethodNotAllowed",
              `The requested method '${method}' is not allowed for '${path}'.`,
            )
          : api === "arm"
            ? armError(404, "InvalidResourceType", `The resource type could not be found for path '${path}'.`)
            : graphError(400, "BadRequest", `Resource not found for the segment '${path.split("/").pop()}'.`);
      }
      const { route, params } = match;
      checkApiVersion(route, url.searchParams);
      if (subscriptionId && !rt.state.subscriptions[subscriptionId.toLowerCase()]) {
        throw armError(
          404,
          "SubscriptionNotFound",
          `The subscription '${subscriptionId}' could not be found.`,
        );
      }
      const ctx: Ctx = {
        method,
        path,
        query: url.searchParams,
        headers: req.headers,
        rawBody,
        body: undefined,
        baseUrl,
        rt,
      };
      logged.faults = rt.faults.take({ api, operation, method, path });
      for (const f of logged.faults) {
        const a = f.action;
        if (a.kind === "latency") await sleep(a.ms);
      }
      for (const f of logged.faults) {
        const a = f.action;
        if (a.kind === "reset") {
          logged.outcome = "reset";
          req.socket.destroy();
          return "handled";
        }
        if (a.kind === "timeout") {
          logged.outcome = "timeout";
          hung.add(res);
          return "handled";
        }
        if (a.kind === "principalNotFound") ctx.forcePrincipalNotFound = true;
        if (a.kind === "status") {
          const headers: Record<string, string> = {};
          if (a.retryAfterSeconds !== undefined) headers["Retry-After"] = String(a.retryAfterSeconds);
          if (a.retryAfterMs !== undefined) headers["retry-after-ms"] = String(a.retryAfterMs);
          const err = errorFor(
            api,
            a.status,
            a.code ?? defaultCode(a.status),
            a.message ?? `Injected fault ${f.id}.`,
          );
          return { ...err.reply, headers };
        }
      }
      if (subscriptionId) {
        const t = rt.throttle.take(subscriptionId, route.kind);
        throttleHeaders = { [rt.throttle.headerName(route.kind)]: String(t.remaining) };
        if (!t.allowed) {
          const err = armError(
            429,
            "SubscriptionRequestsThrottled",
            `Number of '${route.kind}' requests for subscription '${subscriptionId}' exceeded. Please try again after '${t.retryAfterSeconds}' seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling`,
          );
          return { ...err.reply, headers: { "Retry-After": String(t.retryAfterSeconds) } };
        }
      }
      try {
        ctx.body = rawBody.trim() ? JSON.parse(rawBody) : undefined;
      } catch {
        throw errorFor(
          api,
          400,
          api === "arm" ? "InvalidRequestContent" : "BadRequest",
          "The request content was invalid and could not be deserialized.",
        );
      }
      const answer = await route.handle(ctx, params);
      const mangle = logged.faults.find((f) => f.action.kind === "mangle")?.action;
      return mangle?.kind === "mangle" && answer.body !== undefined
        ? { ...answer, body: mangleBody(answer.body, mangle) }
        : answer;
    };

    let result: Reply | "handled";
    try {
      result = await reply();
    } catch (e) {
      result =
        e instanceof HttpError
          ? e.reply
          : errorFor(api, 500, "InternalServerError", `Emulator error: ${String(e)}`).reply;
      if (!(e instanceof HttpError)) console.error(e);
    }
    if (result !== "handled") {
      logged.status = result.status;
      send(result, throttleHeaders);
    }
    log();
  };

  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    handler(req, res).catch((e: unknown) => {
      console.error(e);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  return {
    server,
    releaseHung: () => {
      for (const r of hung) r.socket?.destroy();
      hung.clear();
    },
  };
}
