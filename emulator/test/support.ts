/** Real SDK clients pointed at an in-process emulator, with a recorder of every wire exchange. */
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { WebSiteManagementClient } from "@azure/arm-appservice";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { LogicManagementClient } from "@azure/arm-logic";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  createDefaultHttpClient,
  type PipelinePolicy,
  type PipelineResponse,
} from "@azure/core-rest-pipeline";
import type { RunningEmulator } from "../index.ts";

export const credential: TokenCredential = {
  getToken: async () => ({ token: "emulator-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Records every response the SDK pipeline receives, parsed as JSON when there is a body. */
export class Recorder {
  readonly exchanges: Exchange[] = [];
  readonly policy: PipelinePolicy = {
    name: "emulatorRecorder",
    sendRequest: async (req, next) => {
      const res = await next(req);
      let body: unknown;
      try {
        body = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
      } catch {
        body = res.bodyAsText;
      }
      this.exchanges.push({
        method: req.method,
        url: req.url,
        status: res.status,
        headers: res.headers.toJSON(),
        body,
      });
      return res;
    },
  };
  clear(): void {
    this.exchanges.length = 0;
  }
  last(method?: string): Exchange {
    const list = method ? this.exchanges.filter((e) => e.method === method) : this.exchanges;
    const e = list[list.length - 1];
    if (!e) throw new Error(`no ${method ?? ""} exchange recorded`);
    return e;
  }
}

export interface Clients {
  recorder: Recorder;
  logic(sub: string): LogicManagementClient;
  web(sub: string): WebSiteManagementClient;
  msi(sub: string): ManagedServiceIdentityClient;
  authorization(sub?: string): AuthorizationManagementClient;
  apim(sub: string): ApiManagementClient;
  graph(method: string, path: string, body?: unknown): Promise<PipelineResponse & { json: unknown }>;
  /** ARM calls no SDK client makes (managed API connections and their access policies). */
  arm(method: string, path: string, body?: unknown): Promise<PipelineResponse & { json: unknown }>;
}

export function clients(emu: RunningEmulator, opts: { retries?: boolean } = {}): Clients {
  const recorder = new Recorder();
  const options = {
    endpoint: emu.url,
    tlsOptions: { ca: emu.caPem },
    additionalPolicies: [{ policy: recorder.policy, position: "perRetry" as const }],
    ...(opts.retries === false ? { retryOptions: { maxRetries: 0 } } : {}),
  };
  const graphPipeline = createPipelineFromOptions({
    tlsOptions: { ca: emu.caPem },
    ...(opts.retries === false ? { retryOptions: { maxRetries: 0 } } : {}),
  });
  graphPipeline.addPolicy(
    bearerTokenAuthenticationPolicy({ credential, scopes: "https://graph.microsoft.com/.default" }),
  );
  graphPipeline.addPolicy(recorder.policy, { afterPhase: "Retry" });
  const armPipeline = createPipelineFromOptions({
    tlsOptions: { ca: emu.caPem },
    ...(opts.retries === false ? { retryOptions: { maxRetries: 0 } } : {}),
  });
  armPipeline.addPolicy(
    bearerTokenAuthenticationPolicy({ credential, scopes: "https://management.azure.com/.default" }),
  );
  armPipeline.addPolicy(recorder.policy, { afterPhase: "Retry" });
  const httpClient = createDefaultHttpClient();
  return {
    recorder,
    logic: (sub) => new LogicManagementClient(credential, sub, options),
    web: (sub) => new WebSiteManagementClient(credential, sub, options),
    msi: (sub) => new ManagedServiceIdentityClient(credential, sub, options),
    authorization: (sub) =>
      new AuthorizationManagementClient(credential, sub ?? "00000000-0000-0000-0000-000000000000", options),
    apim: (sub) => new ApiManagementClient(credential, sub, options),
    graph: (method, path, body) => send(graphPipeline, method, path, body),
    arm: (method, path, body) => send(armPipeline, method, path, body),
  };
  async function send(
    pipeline: typeof graphPipeline,
    method: string,
    path: string,
    body: unknown,
  ): Promise<PipelineResponse & { json: unknown }> {
    const req = createPipelineRequest({
      url: `${emu.url}${path}`,
      method: method as "GET",
      headers: createHttpHeaders(body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const res = await pipeline.sendRequest(httpClient, req);
    return Object.assign(res, {
      json: res.bodyAsText ? (JSON.parse(res.bodyAsText) as unknown) : undefined,
    });
  }
}
