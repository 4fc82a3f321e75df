/**
 * Reads what the workflow check and the connections step need (issue 14, docs/workflow-check.md). Read-only.
 * Costs per pass: Consumption 1 workflow GET; Standard 1 workflow list + 1 GET per workflow; 1 application read per
 * bound API (token version, when the ApplicationPort may read it); per connection 1 GET + 1 access-policy list; per
 * APIM service of an ApimJwtPolicy that references the binding 1 service GET (its gateway hosts), kept for `ttlMs`,
 * so a steady-state pass reads none.
 * A definition the operator may not read leaves the check Unknown; it never fails the pass.
 */
import type { LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { isAzureError } from "../../azure/errors.ts";
import type { CallOptions } from "../../azure/ports.ts";
import type { BindingRecord } from "../shared/ownership.ts";
import type { BindingPorts } from "./gather.ts";
import type { ApiObservation, ConnectionObservation, Refusal, WorkflowsObservation } from "./model.ts";
import {
  checkWorkflows,
  consumptionMsiConnections,
  standardMsiConnections,
  type BoundApi,
  type MsiConnection,
  type WorkflowDefinitionInput,
} from "./workflow-check.ts";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Failures that are a person's to fix (access, a bad ID) become a message; throttling and outages stop the pass. */
function problemOf(e: unknown): string | undefined {
  if (isAzureError(e, "Forbidden") || isAzureError(e, "Invalid") || isAzureError(e, "NotFound"))
    return e instanceof Error ? e.message : String(e);
  return undefined;
}

/**
 * What a pass reads once, not once a round: definitions do not change because of the pass's own writes (an identity
 * PUT moves a Consumption app's version, not its definition), and token versions are kept for a while (`ttlMs`).
 */
export class WorkflowReads {
  readonly #tokenVersions = new Map<string, { version: 1 | 2 | null | undefined; at: number }>();
  readonly #gatewayHosts = new Map<string, { hosts: string[]; at: number }>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The API's `requestedAccessTokenVersion`, from the app registration when ApplicationPort may read it. */
  async tokenVersion(
    appId: string,
    ports: BindingPorts,
    call: CallOptions,
  ): Promise<1 | 2 | null | undefined> {
    const hit = this.#tokenVersions.get(appId.toLowerCase());
    if (hit && this.#now() - hit.at < this.#ttlMs) return hit.version;
    let version: 1 | 2 | null | undefined;
    try {
      version = (await ports.applications?.observeByAppId(appId, call))?.requestedAccessTokenVersion;
    } catch (e) {
      // With Application.ReadWrite.OwnedBy another team's registration may be unreadable: version unknown.
      if (problemOf(e) === undefined) throw e;
    }
    this.#tokenVersions.set(appId.toLowerCase(), { version, at: this.#now() });
    return version;
  }

  /**
   * The service's gateway hosts. A service's host names change only when a person adds a custom domain, so they are
   * kept for `ttlMs`; a 404 drops the entry and is not kept (the JWT policy reports the missing service), nor is a
   * read the operator may not make (Forbidden): neither contributes a host, so no action is flagged for it.
   */
  async gatewayHosts(serviceId: string, ports: BindingPorts, call: CallOptions): Promise<string[]> {
    const k = serviceId.toLowerCase();
    const hit = this.#gatewayHosts.get(k);
    if (hit && this.#now() - hit.at < this.#ttlMs) return hit.hosts;
    if (!ports.apimChain) return [];
    let hosts: string[] | undefined;
    try {
      hosts = await ports.apimChain.getGatewayHosts(serviceId, call);
    } catch (e) {
      if (problemOf(e) === undefined) throw e;
    }
    if (hosts === undefined) {
      this.#gatewayHosts.delete(k);
      return [];
    }
    this.#gatewayHosts.set(k, { hosts, at: this.#now() });
    return hosts;
  }
}

/** One pass's memo: the definitions are read in its first round only. */
export interface PassWorkflowMemo {
  definitions?: Promise<{
    definitions?: WorkflowDefinitionInput[];
    connectionsJson?: unknown;
    problem?: string;
  }>;
}

export async function gatherWorkflows(
  binding: LogicAppIdentityBinding,
  observed: {
    logicAppExists: boolean;
    kind: "Consumption" | "Standard";
    apis: ApiObservation[];
    /** APIM services of the ApimJwtPolicies that reference the binding (and that its namespace may use). */
    apimServiceIds?: readonly string[];
  },
  ports: BindingPorts,
  call: CallOptions,
  record: BindingRecord | undefined,
  authorizeConnection: (connectionId: string) => Refusal | undefined,
  reads: WorkflowReads = new WorkflowReads(),
  memo: PassWorkflowMemo = {},
): Promise<WorkflowsObservation | undefined> {
  const kind = observed.kind;
  if (binding.metadata.deletionTimestamp !== undefined) {
    // Deleting: only the connections this binding wrote a policy on, so the policies can go with it.
    if (!ports.connections || !record?.connectionPolicies?.length) return undefined;
    if ((binding.spec.deletionPolicy ?? "Delete") === "Orphan") return undefined;
    const connections = await observeConnections(
      binding,
      "Standard",
      [],
      ports,
      call,
      record,
      () => undefined,
    );
    return { kind, apis: [], msiConnections: [], connections };
  }
  if (!ports.workflows || !observed.logicAppExists) return undefined;
  const workflowsPort = ports.workflows;
  memo.definitions ??= (async () => {
    try {
      const read = await workflowsPort.readDefinitions(binding.spec.logicAppId, call);
      return { ...(read ? { definitions: read.workflows } : {}), connectionsJson: read?.connectionsJson };
    } catch (e) {
      const problem = problemOf(e);
      if (problem === undefined) throw e;
      return { problem };
    }
  })();
  // A failed read (throttling) is not remembered: the next round or pass reads again.
  const pending = memo.definitions;
  pending.catch(() => {
    if (memo.definitions === pending) delete memo.definitions;
  });
  const { definitions, connectionsJson, problem } = await pending;
  let apis = await boundApis(observed.apis, ports, call, undefined);
  // Hosts matter only when there is something to compare them with.
  const gatewayHosts =
    definitions && apis.length > 0
      ? await gatewayHostsOf(observed.apimServiceIds ?? [], ports, call, reads)
      : [];
  // The token version only shapes the advice in a mismatch message: read it only when there is one.
  if (
    definitions &&
    checkWorkflows({ workflows: definitions, identity: { type: "SystemAssigned" }, apis, gatewayHosts })
      .mismatches.length > 0
  )
    apis = await boundApis(observed.apis, ports, call, reads);
  const msiConnections: MsiConnection[] =
    kind === "Consumption"
      ? consumptionMsiConnections(definitions?.[0]?.parameters)
      : standardMsiConnections(connectionsJson);
  const connections = await observeConnections(
    binding,
    kind,
    msiConnections,
    ports,
    call,
    record,
    authorizeConnection,
  );
  return {
    kind,
    ...(definitions ? { definitions } : {}),
    ...(problem ? { problem } : {}),
    apis,
    ...(gatewayHosts.length > 0 ? { gatewayHosts } : {}),
    msiConnections,
    connections,
  };
}

async function gatewayHostsOf(
  serviceIds: readonly string[],
  ports: BindingPorts,
  call: CallOptions,
  reads: WorkflowReads,
): Promise<string[]> {
  const hosts = new Set<string>();
  const seen = new Set<string>();
  for (const id of serviceIds) {
    if (seen.has(id.toLowerCase())) continue;
    seen.add(id.toLowerCase());
    for (const h of await reads.gatewayHosts(id, ports, call)) hosts.add(h);
  }
  return [...hosts].sort();
}

/** The binding's APIs as the check compares them; the token version comes from the app registration when readable. */
async function boundApis(
  apis: ApiObservation[],
  ports: BindingPorts,
  call: CallOptions,
  reads: WorkflowReads | undefined,
): Promise<BoundApi[]> {
  const out: BoundApi[] = [];
  for (const a of apis) {
    const sp = a.servicePrincipal;
    if (!sp) continue;
    const tokenVersion = reads ? await reads.tokenVersion(sp.appId, ports, call) : undefined;
    out.push({
      api: a.api,
      appId: sp.appId,
      identifierUris: sp.servicePrincipalNames.filter((n) => !GUID.test(n)),
      ...(tokenVersion !== undefined ? { tokenVersion } : {}),
    });
  }
  return out;
}

async function observeConnections(
  binding: LogicAppIdentityBinding,
  kind: "Consumption" | "Standard",
  msi: MsiConnection[],
  ports: BindingPorts,
  call: CallOptions,
  record: BindingRecord | undefined,
  authorizeConnection: (connectionId: string) => Refusal | undefined,
): Promise<ConnectionObservation[]> {
  if (!ports.connections) return [];
  const wanted = new Map<string, { id: string; source: ConnectionObservation["source"] }>();
  const add = (id: string, source: ConnectionObservation["source"]) => {
    if (!wanted.has(id.toLowerCase())) wanted.set(id.toLowerCase(), { id, source });
  };
  if (kind === "Standard") for (const id of binding.spec.connections ?? []) add(id, "spec");
  for (const c of msi) add(c.connectionId, kind === "Standard" ? "connections.json" : "$connections");
  // Connections this binding wrote a policy on: observed even when no longer wanted, so the policy can go.
  for (const e of record?.connectionPolicies ?? []) add(e.connectionId, "record");
  const out: ConnectionObservation[] = [];
  for (const { id, source } of wanted.values()) {
    const refusal = source === "record" ? undefined : authorizeConnection(id);
    // Not even read: what a namespace may not use, it may not learn about through status either.
    if (refusal) {
      out.push({ connectionId: id, source, exists: false, refusal });
      continue;
    }
    try {
      const o = await ports.connections.observe(id, call);
      const accessPolicies =
        kind === "Standard" && o.exists
          ? (await ports.connections.listAccessPolicies(id, call)).map((p) => ({
              name: p.name,
              objectId: p.objectId,
            }))
          : undefined;
      out.push({
        connectionId: id,
        source,
        exists: o.exists,
        ...(o.location ? { location: o.location } : {}),
        ...(o.createdTime ? { createdTime: o.createdTime } : {}),
        ...(o.kind ? { kind: o.kind } : {}),
        ...(accessPolicies ? { accessPolicies } : {}),
      });
    } catch (e) {
      const problem = problemOf(e);
      if (problem === undefined) throw e;
      out.push({ connectionId: id, source, exists: false, problem });
    }
  }
  return out;
}
