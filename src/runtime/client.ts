/**
 * A small JSON client for any Kubernetes resource path, authenticated from the KubeConfig. The generated client-node
 * APIs are per group and per kind; the runtime works on any resource (CRDs, Leases, Events) by path, so it speaks
 * REST directly and keeps one error type with the status code.
 */
import https from "node:https";
import http from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "../api/v1alpha1/metadata.ts";
import { collectionPath, type ResourceType } from "./resource.ts";
import type { ObjectKey } from "./reconciler.ts";

export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly body: unknown;

  constructor(statusCode: number, message: string, reason: string | undefined, body: unknown) {
    super(message);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
    this.body = body;
  }
}

export function isStatus(e: unknown, code: number): boolean {
  return e instanceof KubeApiError && e.statusCode === code;
}

export const isConflict = (e: unknown): boolean => isStatus(e, 409);
export const isNotFound = (e: unknown): boolean => isStatus(e, 404);

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface KubeList<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export const MERGE_PATCH = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  private readonly agent: https.Agent;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 16 });
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const reqOpts: https.RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.kubeConfig.applyToHTTPSOptions(reqOpts);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = (reqOpts.headers ?? {}) as Record<string, string>;
    if (payload !== undefined) {
      headers["Content-Type"] = options.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    reqOpts.headers = headers;
    const lib = url.protocol === "http:" ? http : https;
    if (url.protocol !== "http:") reqOpts.agent = this.agent;
    return new Promise<T>((resolveRequest, rejectRequest) => {
      // The signal usually outlives the request (a controller's shutdown signal lives as long as the process): a
      // listener left on it would keep this request, its socket state and its response body reachable for good,
      // tens of KB per reconcile. So it goes as soon as the request is settled, however that happened.
      const signal = options.signal;
      const onAbort = () => req.destroy(new Error("aborted"));
      const release = () => signal?.removeEventListener("abort", onAbort);
      const resolve = (v: T) => {
        release();
        resolveRequest(v);
      };
      const reject = (e: unknown) => {
        release();
        rejectRequest(e);
      };
      const req = lib.request(url, reqOpts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(parsed as T);
            return;
          }
          const st = parsed as { message?: string; reason?: string } | undefined;
          reject(
            new KubeApiError(
              status,
              `${method} ${path}: ${status} ${st?.message ?? text.slice(0, 200)}`,
              st?.reason,
              parsed,
            ),
          );
        });
      });
      req.on("error", reject);
      req.setTimeout(options.timeoutMs ?? 30_000, () =>
        req.destroy(new Error(`${method} ${path}: timed out`)),
      );
      if (signal?.aborted) req.destroy(new Error("aborted"));
      else if (signal) {
        signal.addEventListener("abort", onAbort, { once: true });
        req.once("close", release);
      }
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  objectPath(r: ResourceType, key: ObjectKey, subresource?: string): string {
    const ns = r.namespaced ? key.namespace : undefined;
    if (r.namespaced && !ns) throw new Error(`${r.kind} is namespaced; key ${key.name} has no namespace`);
    const base = collectionPath(r, ns);
    return `${base}/${encodeURIComponent(key.name)}${subresource ? `/${subresource}` : ""}`;
  }

  get<T extends KubeObject = KubeObject>(r: ResourceType, key: ObjectKey): Promise<T> {
    return this.request<T>("GET", this.objectPath(r, key));
  }

  async list<T>(
    r: ResourceType,
    namespace: string | undefined,
    query: Record<string, string | number | undefined> = {},
  ): Promise<KubeList<T>> {
    return this.request<KubeList<T>>("GET", collectionPath(r, namespace), { query });
  }

  create<T>(r: ResourceType, namespace: string | undefined, body: unknown): Promise<T> {
    return this.request<T>("POST", collectionPath(r, namespace), { body });
  }

  replace<T>(r: ResourceType, key: ObjectKey, body: unknown, subresource?: string): Promise<T> {
    return this.request<T>("PUT", this.objectPath(r, key, subresource), { body });
  }

  patch<T>(
    r: ResourceType,
    key: ObjectKey,
    body: unknown,
    contentType = MERGE_PATCH,
    subresource?: string,
  ): Promise<T> {
    return this.request<T>("PATCH", this.objectPath(r, key, subresource), { body, contentType });
  }

  delete(r: ResourceType, key: ObjectKey): Promise<unknown> {
    return this.request("DELETE", this.objectPath(r, key));
  }

  close(): void {
    this.agent.destroy();
  }
}
