import { applyIdentity, parseIdentityRequest, releaseIdentity, renderIdentity } from "../identity.ts";
import { azureTime, key, newGuid, workflowVersion } from "../ids.ts";
import { armError, requireObject, resourceNotFound, type Ctx, type Reply, type Route } from "../http.ts";
import type { Runtime } from "../runtime.ts";
import type { JsonObject, WorkflowRecord } from "../state.ts";
import { RG, SEG, SUB, asObject, requireResourceGroup, stringRecord, listInScope } from "./common.ts";

const TYPE = "Microsoft.Logic/workflows";
const VERSIONS = ["2019-05-01", "2018-07-01-preview", "2017-07-01", "2016-06-01"];

export const workflowId = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/${TYPE}/${name}`;

/** Members the service computes; a GET→PUT round trip sends some back and they are ignored. */
const READ_ONLY = [
  "provisioningState",
  "createdTime",
  "changedTime",
  "version",
  "accessEndpoint",
  "sku",
  "endpointsConfiguration",
];

function reference(v: unknown, type: string): JsonObject | undefined {
  const id = asObject(v).id;
  if (typeof id !== "string") return undefined;
  return { name: id.split("/").pop(), id, type };
}

/** The region's fixed IPs, as in the spec example; callers never act on them. */
const ENDPOINTS = {
  workflow: {
    outgoingIpAddresses: [
      { address: "13.84.159.168" },
      { address: "13.65.86.56" },
      { address: "13.65.82.190" },
    ],
    accessEndpointIpAddresses: [
      { address: "104.210.153.89" },
      { address: "13.85.79.155" },
      { address: "13.65.39.247" },
    ],
  },
  connector: { outgoingIpAddresses: [{ address: "40.84.145.61" }] },
};

export function renderWorkflow(rt: Runtime, w: WorkflowRecord): JsonObject {
  const p = w.properties;
  const properties: JsonObject = {
    provisioningState: "Succeeded",
    createdTime: w.createdTime,
    changedTime: w.changedTime,
    state: p.state ?? "Enabled",
    version: w.version,
    accessEndpoint: `https://prod-00.${w.location.replace(/\s+/g, "").toLowerCase()}.logic.azure.com:443/workflows/${w.accessEndpointId}`,
  };
  const ia = reference(p.integrationAccount, "Microsoft.Logic/integrationAccounts");
  if (ia) properties.integrationAccount = ia;
  const ise = reference(p.integrationServiceEnvironment, "Microsoft.Logic/integrationServiceEnvironments");
  if (ise) properties.integrationServiceEnvironment = ise;
  properties.definition = p.definition ?? {};
  properties.parameters = p.parameters ?? {};
  properties.endpointsConfiguration = ENDPOINTS;
  const out: JsonObject = {
    properties,
    id: w.id,
    name: w.name,
    type: TYPE,
    location: w.location,
    tags: w.tags,
  };
  const identity = renderIdentity(rt, w.identity);
  if (identity) out.identity = identity;
  return out;
}

function writableProperties(raw: unknown): JsonObject {
  const p = { ...asObject(raw) };
  for (const k of READ_ONLY) delete p[k];
  if (p.integrationAccount) p.integrationAccount = { id: asObject(p.integrationAccount).id };
  if (p.integrationServiceEnvironment)
    p.integrationServiceEnvironment = { id: asObject(p.integrationServiceEnvironment).id };
  if (
    p.state !== undefined &&
    !["Enabled", "Disabled", "Suspended", "Deleted", "NotSpecified", "Completed"].includes(String(p.state))
  ) {
    throw armError(400, "InvalidWorkflowState", `The workflow state '${String(p.state)}' is not valid.`);
  }
  return p;
}

function touch(w: WorkflowRecord): void {
  const now = new Date();
  w.changedTime = azureTime(now);
  w.version = workflowVersion(now);
}

export function getWorkflow(ctx: Ctx, sub: string, rg: string, name: string): WorkflowRecord {
  requireResourceGroup(ctx, sub, rg);
  const w = ctx.rt.state.workflows[key(workflowId(sub, rg, name))];
  if (!w) throw resourceNotFound(TYPE, name, rg);
  return w;
}

/** Creates or replaces a workflow from an ARM body; shared by the PUT handler and the control API's seeding. */
export function putWorkflow(
  rt: Runtime,
  sub: string,
  rg: string,
  name: string,
  body: JsonObject,
): { record: WorkflowRecord; created: boolean } {
  const id = workflowId(sub, rg, name);
  const existing = rt.state.workflows[key(id)];
  const location = typeof body.location === "string" ? body.location : existing?.location;
  if (!location)
    throw armError(400, "LocationRequired", "The location property is required for this definition.");
  if (
    existing &&
    existing.location.replace(/\s/g, "").toLowerCase() !== location.replace(/\s/g, "").toLowerCase()
  ) {
    throw armError(
      400,
      "LocationNotAvailableForResourceType",
      `The location of an existing workflow cannot be changed from '${existing.location}' to '${location}'.`,
    );
  }
  const now = new Date();
  const record: WorkflowRecord = existing ?? {
    id,
    subscriptionId: sub,
    resourceGroup: rg,
    name,
    location,
    tags: {},
    properties: {},
    createdTime: azureTime(now),
    changedTime: azureTime(now),
    version: workflowVersion(now),
    accessEndpointId: newGuid().replace(/-/g, ""),
    identity: { userAssignedIds: [] },
  };
  const properties = writableProperties(body.properties);
  const req = parseIdentityRequest(body.identity);
  // Validate the identity before anything is written, so a rejected PUT leaves no trace.
  const identity = req
    ? applyIdentity(rt, id, name, record.identity, req, "Consumption", false)
    : record.identity;
  record.properties = properties;
  record.tags = stringRecord(body.tags);
  record.identity = identity;
  touch(record);
  rt.state.workflows[key(id)] = record;
  return { record, created: !existing };
}

function list(ctx: Ctx, sub: string, rg?: string): Reply {
  return listInScope(ctx, ctx.rt.state.workflows, (r) => renderWorkflow(ctx.rt, r), sub, rg);
}

const common = { api: "arm" as const, resourceType: "workflows", apiVersions: VERSIONS };
const ONE = new RegExp(`^${RG}/providers/Microsoft\\.Logic/workflows/${SEG}$`, "i");

export const logicRoutes: Route[] = [
  {
    ...common,
    method: "GET",
    pattern: ONE,
    operation: "Workflows_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => ({
      status: 200,
      body: renderWorkflow(ctx.rt, getWorkflow(ctx, sub!, rg!, name!)),
    }),
  },
  {
    ...common,
    method: "PUT",
    pattern: ONE,
    operation: "Workflows_CreateOrUpdate",
    kind: "write",
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const { record, created } = putWorkflow(ctx.rt, sub!, rg!, name!, requireObject(ctx.body, "arm"));
      return { status: created ? 201 : 200, body: renderWorkflow(ctx.rt, record) };
    },
  },
  {
    ...common,
    method: "PATCH",
    pattern: ONE,
    operation: "Workflows_Update",
    kind: "write",
    // The swagger declares no body and the SDK sends none; a body (raw clients) may still carry tags/identity/state.
    handle: (ctx, [sub, rg, name]) => {
      const w = getWorkflow(ctx, sub!, rg!, name!);
      if (ctx.body !== undefined) {
        const b = requireObject(ctx.body, "arm");
        const req = parseIdentityRequest(b.identity);
        if (req) w.identity = applyIdentity(ctx.rt, w.id, w.name, w.identity, req, "Consumption", false);
        if (b.tags !== undefined) w.tags = stringRecord(b.tags);
        const state = asObject(b.properties).state;
        if (state !== undefined) w.properties = { ...w.properties, ...writableProperties({ state }) };
      }
      touch(w);
      return { status: 200, body: renderWorkflow(ctx.rt, w) };
    },
  },
  {
    ...common,
    method: "DELETE",
    pattern: ONE,
    operation: "Workflows_Delete",
    kind: "delete",
    handle: (ctx, [sub, rg, name]) => {
      requireResourceGroup(ctx, sub!, rg!);
      const k = key(workflowId(sub!, rg!, name!));
      const w = ctx.rt.state.workflows[k];
      if (!w) return { status: 204 };
      deleteWorkflowRecord(ctx.rt, w);
      return { status: 200 };
    },
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${RG}/providers/Microsoft\\.Logic/workflows$`, "i"),
    operation: "Workflows_ListByResourceGroup",
    kind: "read",
    handle: (ctx, [sub, rg]) => list(ctx, sub!, rg!),
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${SUB}/providers/Microsoft\\.Logic/workflows$`, "i"),
    operation: "Workflows_ListBySubscription",
    kind: "read",
    handle: (ctx, [sub]) => list(ctx, sub!),
  },
];

/** Deleting a workflow removes its system-assigned principal from the directory. */
export function deleteWorkflowRecord(rt: Runtime, w: WorkflowRecord): void {
  releaseIdentity(rt, w.identity);
  delete rt.state.workflows[key(w.id)];
}
