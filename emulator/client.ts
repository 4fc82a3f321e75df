/** Typed client for the emulator's `/_emulator/` control API, over HTTPS with the emulator's CA. */
import { request } from "node:https";
import type { EmulatorConfig } from "./runtime.ts";
import type { Fault, FaultSpec } from "./faults.ts";
import type { LogEntry, LogSummary } from "./request-log.ts";
import type * as S from "./seed.ts";
import type * as W from "./seed-workflows.ts";
import type { State } from "./state.ts";

export type * from "./seed.ts";
export type * from "./seed-workflows.ts";
export type { Fault, FaultAction, FaultMatcher, FaultSpec } from "./faults.ts";
export type { LogEntry, LogSummary } from "./request-log.ts";
export type { ApplicationPermission, EmulatorConfig, GraphCaller } from "./runtime.ts";

/** The ARM role assignment and Graph app role assignment shapes as the real APIs return them. */
export interface RoleAssignmentView {
  id: string;
  name: string;
  type: string;
  properties: {
    roleDefinitionId: string;
    principalId: string;
    principalType: string;
    scope: string;
    description: string | null;
  };
}
export interface AppRoleAssignmentView {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: string;
  principalDisplayName: string;
  resourceId: string;
  resourceDisplayName: string;
  createdDateTime: string;
}

/** An access policy of a managed API connection, as ARM renders it. */
export interface ConnectionAccessPolicyView {
  id: string;
  name: string;
  type: string;
  location: string;
  properties: { principal: { type: string; identity: { objectId: string; tenantId?: string } } };
}

export class EmulatorControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** A reset on a reused keep-alive connection before any response: see `EmulatorControl.call`. */
class StaleSocketError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}

export class EmulatorControl {
  readonly url: string;
  private readonly ca: string;

  /** `url` is the emulator's base URL (https://127.0.0.1:port); `caPem` its CA certificate. */
  constructor(url: string, caPem: string) {
    this.url = url.replace(/\/+$/, "");
    this.ca = caPem;
  }

  private call<T>(
    method: string,
    path: string,
    body?: unknown,
    query?: Record<string, string | undefined>,
  ): Promise<T> {
    const u = new URL(`${this.url}/_emulator${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, v);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return this.send<T>(u, method, path, payload).catch((e: unknown) => {
      // A keep-alive race, not a failure: the server closed a pooled connection as idle while this request was
      // being written to it (the server's keep-alive timer and the request fall in the same turn of the event
      // loop whenever the process, which in tests and benchmarks also hosts the emulator, was busy for longer
      // than the server's keepAliveTimeout: the client agent's own idle timer never ran). The server read
      // nothing from that socket, so the request was not processed and sending it once more on a fresh
      // connection is safe for every method; Node's documented pattern
      // (https://nodejs.org/api/http.html#requestreusedsocket). The retry opens its own connection (every pooled
      // one may be as stale after such a pause); any other error, or a reset of that connection, is real.
      if (e instanceof StaleSocketError) return this.send<T>(u, method, path, payload, true);
      throw e;
    });
  }

  private send<T>(
    u: URL,
    method: string,
    path: string,
    payload: string | undefined,
    fresh = false,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let responded = false;
      const req = request(
        u,
        {
          method,
          ca: this.ca,
          ...(fresh ? { agent: false } : {}),
          headers: payload
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
            : {},
        },
        (res) => {
          responded = true;
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          // A connection lost mid-response is emitted here, not on `req`; unheard, it would be an uncaught exception.
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch (e) {
              if ((res.statusCode ?? 500) < 400) return reject(e as Error);
            }
            if ((res.statusCode ?? 500) >= 400) {
              const msg = (parsed as { error?: { message?: string } } | undefined)?.error?.message ?? text;
              reject(new EmulatorControlError(res.statusCode ?? 500, `${method} ${path}: ${msg}`));
            } else resolve(parsed as T);
          });
        },
      );
      req.on("error", (e: NodeJS.ErrnoException) =>
        reject(req.reusedSocket && !responded && e.code === "ECONNRESET" ? new StaleSocketError(e) : e),
      );
      req.end(payload);
    });
  }

  health(): Promise<{ ok: boolean }> {
    return this.call("GET", "/health");
  }
  getConfig(): Promise<EmulatorConfig> {
    return this.call("GET", "/config");
  }
  /** E.g. `{ throttling: { enabled: true } }`; buckets restart full when throttling settings change. */
  setConfig(
    patch: Partial<Omit<EmulatorConfig, "throttling" | "graphCaller">> & {
      throttling?: Partial<EmulatorConfig["throttling"]>;
      graphCaller?: Partial<EmulatorConfig["graphCaller"]>;
    },
  ): Promise<EmulatorConfig> {
    return this.call("PATCH", "/config", patch);
  }
  setReplicationDelay(ms: number): Promise<EmulatorConfig> {
    return this.setConfig({ replicationDelayMs: ms });
  }
  setThrottling(enabled: boolean): Promise<EmulatorConfig> {
    return this.setConfig({ throttling: { enabled } });
  }
  /** Empties the world, faults and request log (config is kept). */
  reset(): Promise<{ ok: boolean }> {
    return this.call("POST", "/reset");
  }

  seedTenant(tenantId: string): Promise<{ tenantId: string }> {
    return this.call("POST", "/seed/tenant", { tenantId });
  }
  seedSubscription(s: S.SeedSubscription = {}): Promise<{ subscriptionId: string }> {
    return this.call("POST", "/seed/subscriptions", s);
  }
  seedResourceGroup(g: S.SeedResourceGroup): Promise<{ id: string }> {
    return this.call("POST", "/seed/resource-groups", g);
  }
  seedLogicApp(a: S.SeedLogicApp): Promise<S.LogicAppView> {
    return this.call("POST", "/seed/logic-apps", a);
  }
  seedUserAssignedIdentity(u: S.SeedUserAssignedIdentity): Promise<S.UserAssignedIdentityView> {
    return this.call("POST", "/seed/user-assigned-identities", u);
  }
  seedSystemIdentity(s: S.SeedSystemIdentity): Promise<{ principalId: string; clientId: string }> {
    return this.call("POST", "/seed/system-identities", s);
  }
  seedServicePrincipal(s: S.SeedServicePrincipal): Promise<S.ServicePrincipalView> {
    return this.call("POST", "/seed/service-principals", s);
  }
  /** An app registration made by someone else: no owners unless given (see `DEFAULT_GRAPH_CALLER_ID`). */
  seedApplication(a: S.SeedApplication): Promise<S.ApplicationView> {
    return this.call("POST", "/seed/applications", a);
  }
  seedUser(u: S.SeedUser): Promise<{ id: string }> {
    return this.call("POST", "/seed/users", u);
  }
  seedRoleDefinition(d: S.SeedRoleDefinition): Promise<{ id: string; name: string }> {
    return this.call("POST", "/seed/role-definitions", d);
  }
  seedRoleAssignment(a: S.SeedRoleAssignment): Promise<RoleAssignmentView> {
    return this.call("POST", "/seed/role-assignments", a);
  }
  seedAppRoleAssignment(a: S.SeedAppRoleAssignment): Promise<AppRoleAssignmentView> {
    return this.call("POST", "/seed/app-role-assignments", a);
  }
  /** A Consumption workflow's definition (and parameters) as a person saves it in the designer. */
  seedWorkflowDefinition(d: W.SeedWorkflowDefinition): Promise<{ id: string; version: string }> {
    return this.call("POST", "/seed/workflow-definitions", d);
  }
  /** A Standard app's workflow; every call is a new version. */
  seedSiteWorkflow(w: W.SeedSiteWorkflow): Promise<{ id: string; version: string }> {
    return this.call("POST", "/seed/site-workflows", w);
  }
  seedSiteConnections(c: W.SeedSiteConnections): Promise<{ siteId: string }> {
    return this.call("POST", "/seed/site-connections", c);
  }
  seedConnection(c: W.SeedConnection): Promise<{ id: string; name: string }> {
    return this.call("POST", "/seed/connections", c);
  }
  seedConnectionAccessPolicy(p: W.SeedConnectionAccessPolicy): Promise<ConnectionAccessPolicyView> {
    return this.call("POST", "/seed/connection-access-policies", p);
  }
  connectionAccessPolicies(connectionId: string): Promise<ConnectionAccessPolicyView[]> {
    return this.call(
      "GET",
      `/state/connection-access-policies?connectionId=${encodeURIComponent(connectionId)}`,
    );
  }
  seedApimService(s: S.SeedApimService): Promise<{ id: string }> {
    return this.call("POST", "/seed/apim-services", s);
  }
  seedApimApi(a: S.SeedApimApi): Promise<{ id: string }> {
    return this.call("POST", "/seed/apim-apis", a);
  }
  seedApimProduct(p: S.SeedApimProduct): Promise<{ id: string }> {
    return this.call("POST", "/seed/apim-products", p);
  }
  seedApimOperation(o: S.SeedApimOperation): Promise<{ id: string }> {
    return this.call("POST", "/seed/apim-operations", o);
  }
  seedApimProductApi(l: S.SeedApimProductApi): Promise<{ id: string }> {
    return this.call("POST", "/seed/apim-product-apis", l);
  }
  seedPolicyFragment(f: S.SeedPolicyFragment): Promise<S.PolicyView> {
    return this.call("POST", "/seed/policy-fragments", f);
  }
  /** Tenant, subscription, RG, 'orders-workflow' (Consumption, no identity), api://orders with AddRole/ReadRole, APIM. */
  seedScenario(o: S.ScenarioOptions = {}): Promise<S.ScenarioIds> {
    return this.call("POST", "/seed/scenario", o);
  }

  state(): Promise<State> {
    return this.call("GET", "/state");
  }
  listLogicApps(): Promise<S.LogicAppView[]> {
    return this.call("GET", "/state/logic-apps");
  }
  getLogicApp(id: string): Promise<S.LogicAppView> {
    return this.call("GET", "/state/logic-app", undefined, { id });
  }
  /** Behind the operator's back, e.g. `{ type: "None" }` then `{ type: "SystemAssigned" }` (a new principal). */
  setLogicAppIdentity(id: string, identity: S.SeedIdentity): Promise<S.LogicAppView> {
    return this.call("POST", "/logic-apps/identity", { id, ...identity });
  }
  deleteLogicApp(id: string): Promise<{ deleted: boolean }> {
    return this.call("POST", "/logic-apps/delete", { id });
  }
  /** Every application, soft-deleted ones included (with `deletedDateTime`). */
  listApplications(): Promise<S.ApplicationView[]> {
    return this.call("GET", "/state/applications");
  }
  /** Soft-deletes as a person would; its SP and every app-role assignment to it go. */
  deleteApplication(id: string): Promise<{ deleted: boolean }> {
    return this.call("POST", "/applications/delete", { id });
  }
  listServicePrincipals(): Promise<Record<string, unknown>[]> {
    return this.call("GET", "/state/service-principals");
  }
  listRoleAssignments(filter: { scope?: string; principalId?: string } = {}): Promise<RoleAssignmentView[]> {
    return this.call("GET", "/state/role-assignments", undefined, filter);
  }
  /** By name (GUID) or full id. */
  deleteRoleAssignment(nameOrId: string): Promise<{ deleted: boolean }> {
    return this.call("POST", "/role-assignments/delete", { name: nameOrId });
  }
  listAppRoleAssignments(
    filter: { resourceId?: string; principalId?: string } = {},
  ): Promise<AppRoleAssignmentView[]> {
    return this.call("GET", "/state/app-role-assignments", undefined, filter);
  }
  deleteAppRoleAssignment(id: string): Promise<{ deleted: boolean }> {
    return this.call("POST", "/app-role-assignments/delete", { id });
  }
  /** Edits a policy as someone in the portal would (rawxml by default: stored exactly as given). */
  putPolicyRaw(
    target: S.PolicyTarget,
    xml: string,
    format: "xml" | "rawxml" = "rawxml",
  ): Promise<S.PolicyView> {
    return this.call("PUT", "/state/policy", { target, xml, format });
  }
  /** The stored document and ETag, or null when there is no policy at that scope. */
  async getPolicyRaw(target: S.PolicyTarget): Promise<S.PolicyView | null> {
    try {
      return await this.call<S.PolicyView>("GET", "/state/policy", undefined, { ...target });
    } catch (e) {
      if (e instanceof EmulatorControlError && e.status === 404) return null;
      throw e;
    }
  }
  deletePolicyRaw(target: S.PolicyTarget): Promise<{ deleted: boolean }> {
    return this.call("POST", "/policies/delete", target);
  }
  listPolicyFragments(
    serviceId: string,
  ): Promise<{ fragmentId: string; description: string; xml: string; etag: string }[]> {
    return this.call("GET", "/state/policy-fragments", undefined, { serviceId });
  }

  injectFault(spec: FaultSpec): Promise<Fault> {
    return this.call("POST", "/faults", spec);
  }
  listFaults(): Promise<Fault[]> {
    return this.call("GET", "/faults");
  }
  removeFault(id: string): Promise<unknown> {
    return this.call("DELETE", `/faults/${encodeURIComponent(id)}`);
  }
  clearFaults(): Promise<{ ok: boolean }> {
    return this.call("DELETE", "/faults");
  }
  requestLog(filter: { operation?: string; since?: number } = {}): Promise<LogEntry[]> {
    return this.call("GET", "/requests", undefined, {
      operation: filter.operation,
      since: filter.since?.toString(),
    });
  }
  requestSummary(): Promise<LogSummary> {
    return this.call("GET", "/requests/summary");
  }
  resetLog(): Promise<{ ok: boolean }> {
    return this.call("DELETE", "/requests");
  }
  snapshot(): Promise<State> {
    return this.call("GET", "/snapshot");
  }
  loadSnapshot(state: State): Promise<{ ok: boolean }> {
    return this.call("PUT", "/snapshot", state);
  }
  saveSnapshotFile(path: string): Promise<{ path: string }> {
    return this.call("POST", "/snapshot/save", { path });
  }
  loadSnapshotFile(path: string): Promise<{ path: string }> {
    return this.call("POST", "/snapshot/load", { path });
  }
}
