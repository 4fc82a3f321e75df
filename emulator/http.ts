import type { IncomingHttpHeaders } from "node:http";
import type { Runtime } from "./runtime.ts";

import type { Api, OperationKind } from "./api-kinds.ts";

export type { Api, OperationKind } from "./api-kinds.ts";

export interface Ctx {
  method: string;
  /** Path with `//` collapsed and no query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body, `undefined` when the body is empty. */
  body: unknown;
  /** `https://host:port` as the client addressed us; used for nextLink/Location headers. */
  baseUrl: string;
  rt: Runtime;
  /** Set by an injected `principalNotFound` fault. */
  forcePrincipalNotFound?: boolean;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  api: Api;
  method: string;
  pattern: RegExp;
  operation: string | ((params: string[]) => string);
  kind: OperationKind;
  /** ARM resource type for the api-version check, e.g. "workflows"; its accepted versions. */
  resourceType?: string;
  apiVersions?: string[];
  /** `params` are the pattern's capture groups, in order. */
  handle(ctx: Ctx, params: string[]): Reply | Promise<Reply>;
}

/** Thrown by handlers; the server turns it into the response. */
export class HttpError extends Error {
  readonly reply: Reply;
  constructor(reply: Reply) {
    super(`HTTP ${reply.status}`);
    this.reply = reply;
  }
}

/** ARM error body: `{"error":{"code","message"}}` (RestError.code/message come from these). */
export function armError(
  status: number,
  code: string,
  message: string,
  extra?: Record<string, unknown>,
): HttpError {
  return new HttpError({ status, body: { error: { code, message, ...extra } } });
}

/** Graph error body with `innerError` (request-id, date, client-request-id). */
export function graphError(status: number, code: string, message: string): HttpError {
  const requestId = crypto.randomUUID();
  return new HttpError({
    status,
    body: {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d{3}Z$/, ""),
          "request-id": requestId,
          "client-request-id": requestId,
        },
      },
    },
  });
}

export function requireObject(body: unknown, api: Api): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw api === "arm"
      ? armError(
          400,
          "InvalidRequestContent",
          "The request content was invalid and could not be deserialized.",
        )
      : graphError(400, "Request_BadRequest", "Invalid request body.");
  }
  return body as Record<string, unknown>;
}

export const ok = (body: unknown, headers?: Record<string, string>): Reply => ({
  status: 200,
  body,
  headers,
});

export function resourceNotFound(type: string, name: string, resourceGroup: string): HttpError {
  return armError(
    404,
    "ResourceNotFound",
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

/** ARM/APIM list pages: `{ value, nextLink? }` with `$top` and an opaque `$skipToken`. */
export function page<T>(
  ctx: Ctx,
  items: T[],
  defaultTop: number,
  tokenParam = "$skipToken",
): { value: T[]; nextLink?: string } {
  const top = Number(ctx.query.get("$top") ?? defaultTop) || defaultTop;
  const skip = Number(ctx.query.get(tokenParam) ?? ctx.query.get(tokenParam.toLowerCase()) ?? 0) || 0;
  const value = items.slice(skip, skip + top);
  if (skip + top >= items.length) return { value };
  const next = new URL(ctx.baseUrl + ctx.path);
  for (const [k, v] of ctx.query)
    if (k !== tokenParam && k !== tokenParam.toLowerCase()) next.searchParams.append(k, v);
  next.searchParams.set(tokenParam, String(skip + top));
  return { value, nextLink: next.toString() };
}
