/**
 * LogicAppPort over @azure/arm-logic (Consumption, Microsoft.Logic/workflows) and @azure/arm-appservice
 * (Standard, Microsoft.Web/sites). Only `identity` is ever written: the workflow definition, parameters and state
 * are someone else's.
 */
import type { LogicManagementClient, Workflow } from "@azure/arm-logic";
import type {
  ManagedServiceIdentity as SiteIdentity,
  Site,
  WebSiteManagementClient,
} from "@azure/arm-appservice";
import type { FullOperationResponse } from "@azure/core-client";
import { AzureError } from "../errors.ts";
import type {
  DesiredIdentity,
  LogicAppIdentity,
  LogicAppKind,
  LogicAppObservation,
  ListedLogicApp,
  LogicAppPort,
  ManagedIdentityType,
  UserAssignedIdentityRef,
  CallOptions,
} from "../ports.ts";
import { absentOn404, invalidId, invoke, parseResourceId } from "./transport.ts";
import type { PerSubscription } from "./transport.ts";

interface LogicAppRef {
  kind: LogicAppKind;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const NO_IDENTITY: LogicAppIdentity = { type: "None", userAssigned: [] };

function parseLogicAppId(id: string, operation: string): LogicAppRef {
  const p = parseResourceId(id);
  if (p && p.children.length === 0) {
    if (p.type === "microsoft.logic/workflows") return { kind: "Consumption", ...p };
    if (p.type === "microsoft.web/sites") return { kind: "Standard", ...p };
  }
  throw invalidId("arm-logic", operation, id, "a Microsoft.Logic/workflows or Microsoft.Web/sites ID");
}

interface RawIdentity {
  type?: string;
  principalId?: string;
  tenantId?: string;
  userAssignedIdentities?: Record<string, { principalId?: string; clientId?: string } | null>;
}

function toIdentity(raw: RawIdentity | undefined): LogicAppIdentity {
  if (!raw?.type) return NO_IDENTITY;
  const userAssigned: UserAssignedIdentityRef[] = Object.entries(raw.userAssignedIdentities ?? {}).map(
    ([id, v]) => ({ id, principalId: v?.principalId, clientId: v?.clientId }),
  );
  return {
    type: normaliseType(raw.type),
    principalId: raw.principalId,
    tenantId: raw.tenantId,
    userAssigned,
  };
}

/** Azure echoes the type with varying case and spacing ("SystemAssigned,UserAssigned"). */
function normaliseType(type: string): ManagedIdentityType {
  const parts = type
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  const sys = parts.includes("systemassigned");
  const user = parts.includes("userassigned");
  if (sys && user) return "SystemAssigned, UserAssigned";
  if (sys) return "SystemAssigned";
  if (user) return "UserAssigned";
  return "None";
}

function hasUser(type: ManagedIdentityType): boolean {
  return type === "UserAssigned" || type === "SystemAssigned, UserAssigned";
}

/** `changedTime` exactly as the service wrote it (the SDK's Date would drop sub-millisecond digits). */
function rawChangedTime(response: FullOperationResponse | undefined): string | undefined {
  if (!response?.bodyAsText) return undefined;
  try {
    const body = JSON.parse(response.bodyAsText) as { properties?: { changedTime?: unknown } };
    const t = body.properties?.changedTime;
    return typeof t === "string" ? t : undefined;
  } catch {
    return undefined;
  }
}

function workflowVersion(wf: Workflow, raw: FullOperationResponse | undefined): string | undefined {
  return rawChangedTime(raw) ?? wf.changedTime?.toISOString();
}

export class LogicAppAdapter implements LogicAppPort {
  readonly #logic: PerSubscription<LogicManagementClient>;
  readonly #web: PerSubscription<WebSiteManagementClient>;

  constructor(clients: {
    logic: PerSubscription<LogicManagementClient>;
    web: PerSubscription<WebSiteManagementClient>;
  }) {
    this.#logic = clients.logic;
    this.#web = clients.web;
  }

  async observe(logicAppId: string, call: CallOptions = {}): Promise<LogicAppObservation> {
    const ref = parseLogicAppId(logicAppId, "observe");
    if (ref.kind === "Consumption") {
      const got = await absentOn404(this.#getWorkflow(ref, call));
      if (!got) return { exists: false, kind: ref.kind, identity: NO_IDENTITY };
      return this.#workflowObservation(got.workflow, got.raw);
    }
    const site = await absentOn404(this.#getSite(ref, call));
    if (!site) return { exists: false, kind: ref.kind, identity: NO_IDENTITY };
    return siteObservation(site);
  }

  async setIdentity(
    logicAppId: string,
    desired: DesiredIdentity,
    expectedVersion?: string,
    call: CallOptions = {},
  ): Promise<LogicAppObservation> {
    const ref = parseLogicAppId(logicAppId, "setIdentity");
    return ref.kind === "Consumption"
      ? this.#setWorkflowIdentity(ref, desired, expectedVersion, call)
      : this.#setSiteIdentity(ref, desired, call);
  }

  /**
   * Workflows_ListBySubscription and WebApps_List, each followed through its nextLink pages. The raw pages are
   * kept for `changedTime`, which must compare equal to what a GET returns (the SDK's Date drops digits).
   */
  async listInSubscription(subscriptionId: string): Promise<ListedLogicApp[]> {
    const out: ListedLogicApp[] = [];
    const rawChanged = new Map<string, string>();
    const onResponse = (r: FullOperationResponse) => {
      try {
        const body = JSON.parse(r.bodyAsText ?? "{}") as {
          value?: { id?: unknown; properties?: { changedTime?: unknown } }[];
        };
        for (const w of body.value ?? []) {
          const t = w.properties?.changedTime;
          if (typeof w.id === "string" && typeof t === "string") rawChanged.set(w.id.toLowerCase(), t);
        }
      } catch {
        // Not JSON: the SDK's own parse fails the call; the Date fallback below covers nothing then.
      }
    };
    await invoke("arm-logic", "workflows.listBySubscription", async () => {
      for await (const wf of this.#logic.get(subscriptionId).workflows.listBySubscription({ onResponse })) {
        if (!wf.id) continue;
        out.push({
          id: wf.id,
          observation: {
            exists: true,
            kind: "Consumption",
            identity: toIdentity(wf.identity),
            version: rawChanged.get(wf.id.toLowerCase()) ?? wf.changedTime?.toISOString(),
          },
          workflows: {
            workflows: [{ workflow: wf.name ?? "", definition: wf.definition, parameters: wf.parameters }],
          },
        });
      }
    });
    await invoke("arm-web", "webApps.list", async () => {
      for await (const site of this.#web.get(subscriptionId).webApps.list()) {
        if (site.id) out.push({ id: site.id, observation: siteObservation(site) });
      }
    });
    return out;
  }

  #workflowObservation(wf: Workflow, raw: FullOperationResponse | undefined): LogicAppObservation {
    return {
      exists: true,
      kind: "Consumption",
      identity: toIdentity(wf.identity),
      version: workflowVersion(wf, raw),
    };
  }

  async #getWorkflow(
    ref: LogicAppRef,
    call: CallOptions,
  ): Promise<{ workflow: Workflow; raw: FullOperationResponse | undefined }> {
    let raw: FullOperationResponse | undefined;
    const workflow = await invoke("arm-logic", "workflows.get", () =>
      this.#logic.get(ref.subscriptionId).workflows.get(ref.resourceGroup, ref.name, {
        abortSignal: call.signal,
        onResponse: (r) => {
          raw = r;
        },
      }),
    );
    return { workflow, raw };
  }

  async #setWorkflowIdentity(
    ref: LogicAppRef,
    desired: DesiredIdentity,
    expectedVersion: string | undefined,
    call: CallOptions,
  ): Promise<LogicAppObservation> {
    if (desired.type === "SystemAssigned, UserAssigned") {
      // Consumption holds one identity kind at a time; Azure would refuse the PUT, so do not spend a write on it.
      throw new AzureError({
        kind: "Invalid",
        code: "UnsupportedIdentityType",
        message:
          "arm-logic workflows.createOrUpdate: a Consumption Logic App cannot hold system and user identities at once",
        service: "arm-logic",
        operation: "workflows.createOrUpdate",
      });
    }
    if (desired.type === "UserAssigned" && desired.userAssignedIdentityIds.length > 1) {
      throw new AzureError({
        kind: "Invalid",
        code: "UnsupportedIdentityType",
        message:
          "arm-logic workflows.createOrUpdate: a Consumption Logic App holds at most one user-assigned identity",
        service: "arm-logic",
        operation: "workflows.createOrUpdate",
      });
    }
    // Always a fresh read: the PUT sends the whole resource back, so it must be the resource as it is now.
    const { workflow, raw } = await this.#getWorkflow(ref, call);
    const current = workflowVersion(workflow, raw);
    if (expectedVersion !== undefined && current !== expectedVersion) {
      throw new AzureError({
        kind: "Conflict",
        code: "ConcurrentModification",
        message: `arm-logic workflows.createOrUpdate: workflow ${ref.name} changed since it was observed (changedTime ${expectedVersion} → ${current ?? "unknown"}); re-observe before writing`,
        service: "arm-logic",
        operation: "workflows.createOrUpdate",
      });
    }
    // The SDK's serializer drops read-only members (id, changedTime, principalId...) and sends the rest, so
    // definition, parameters and state go back exactly as read; only `identity` is replaced.
    const updated: Workflow = { ...workflow, identity: workflowIdentity(desired) };
    let putRaw: FullOperationResponse | undefined;
    const result = await invoke("arm-logic", "workflows.createOrUpdate", () =>
      this.#logic.get(ref.subscriptionId).workflows.createOrUpdate(ref.resourceGroup, ref.name, updated, {
        abortSignal: call.signal,
        onResponse: (r) => {
          putRaw = r;
        },
      }),
    );
    return this.#workflowObservation(result, putRaw);
  }

  #getSite(ref: LogicAppRef, call: CallOptions): Promise<Site> {
    return invoke("arm-web", "webApps.get", () =>
      this.#web
        .get(ref.subscriptionId)
        .webApps.get(ref.resourceGroup, ref.name, { abortSignal: call.signal }),
    );
  }

  async #setSiteIdentity(
    ref: LogicAppRef,
    desired: DesiredIdentity,
    call: CallOptions,
  ): Promise<LogicAppObservation> {
    // Read first: PATCH merges userAssignedIdentities, so an identity to detach must be sent as null.
    const before = await this.#getSite(ref, call);
    const identity: SiteIdentity = { type: desired.type };
    if (hasUser(desired.type)) {
      const wanted = new Set(desired.userAssignedIdentityIds.map((id) => id.toLowerCase()));
      const uai: Record<string, object | null> = {};
      for (const id of Object.keys(before.identity?.userAssignedIdentities ?? {})) {
        if (!wanted.has(id.toLowerCase())) uai[id] = null;
      }
      for (const id of desired.userAssignedIdentityIds) uai[id] = {};
      identity.userAssignedIdentities = uai as SiteIdentity["userAssignedIdentities"];
    }
    let status: number | undefined;
    let site: Site | undefined;
    try {
      site = await invoke("arm-web", "webApps.update", () =>
        this.#web.get(ref.subscriptionId).webApps.update(
          ref.resourceGroup,
          ref.name,
          { identity },
          {
            abortSignal: call.signal,
            onResponse: (r) => {
              status = r.status;
            },
          },
        ),
      );
    } catch (e) {
      // arm-appservice 19 deserialises a 202 without a body as a Site and fails on `undefined`; the PATCH was
      // accepted all the same, so read the result below instead.
      if (status !== 202 || e instanceof AzureError) throw e;
    }
    if (status === 202 || !site?.identity) site = await this.#getSite(ref, call);
    return siteObservation(site);
  }
}

function workflowIdentity(desired: DesiredIdentity): Workflow["identity"] {
  if (desired.type === "UserAssigned") {
    return {
      type: "UserAssigned",
      userAssignedIdentities: Object.fromEntries(desired.userAssignedIdentityIds.map((id) => [id, {}])),
    };
  }
  return { type: desired.type };
}

function siteObservation(site: Site): LogicAppObservation {
  const raw = site.identity as RawIdentity | undefined;
  return {
    exists: true,
    kind: "Standard",
    identity: toIdentity(raw),
    // Sites carry no ETag in this api-version; PATCH of `identity` alone cannot clobber anyone's edit.
    version: undefined,
  };
}
