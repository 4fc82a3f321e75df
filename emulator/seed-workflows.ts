/**
 * Control-API seeding for what a person edits in the designer or the portal, behind the operator's back: workflow
 * definitions (Consumption and Standard), a Standard app's `connections.json`, managed API connections and their
 * access policies. Each goes through the same record code as the ARM routes.
 */
import { putAccessPolicy, putConnection, renderAccessPolicy, renderConnection } from "./arm/connections.ts";
import { putSiteWorkflow } from "./arm/site-workflows.ts";
import { armError } from "./http.ts";
import { azureTime, key, workflowVersion } from "./ids.ts";
import type { Runtime } from "./runtime.ts";
import { seedResourceGroup } from "./seed.ts";
import type { JsonObject } from "./state.ts";

export interface SeedWorkflowDefinition {
  /** A Consumption workflow's ARM id. */
  logicAppId: string;
  definition: JsonObject;
  /** Workflow parameters, e.g. `$connections`; left as they are when absent. */
  parameters?: JsonObject;
}

export interface SeedSiteWorkflow {
  /** The Standard app's (site's) ARM id. */
  siteId: string;
  name: string;
  definition: JsonObject;
  kind?: "Stateful" | "Stateless";
  health?: JsonObject;
}

export interface SeedSiteConnections {
  siteId: string;
  /** The app's `connections.json` (`managedApiConnections`, `serviceProviderConnections`...). */
  connections: JsonObject;
}

export interface SeedConnection {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
  /** "V1" (Consumption) or "V2" (Standard). */
  kind?: string;
  /** The managed API, e.g. `/subscriptions/…/providers/Microsoft.Web/locations/westeurope/managedApis/office365`. */
  apiId?: string;
  /** Extra properties (parameterValueType, displayName…); read-only ones as the service would render them. */
  properties?: JsonObject;
}

export interface SeedConnectionAccessPolicy {
  connectionId: string;
  name: string;
  objectId: string;
  tenantId?: string;
}

const siteOf = (rt: Runtime, id: string) => rt.state.sites[key(id)] ?? fail(`No Standard logic app '${id}'.`);
const connectionOf = (rt: Runtime, id: string) =>
  rt.state.connections[key(id)] ?? fail(`No connection '${id}'.`);
const fail = (message: string): never => {
  throw armError(404, "NotFound", message);
};

export function seedWorkflowDefinition(rt: Runtime, d: SeedWorkflowDefinition): JsonObject {
  const w = rt.state.workflows[key(d.logicAppId)] ?? fail(`No Consumption logic app '${d.logicAppId}'.`);
  w.properties = {
    ...w.properties,
    definition: d.definition,
    ...(d.parameters ? { parameters: d.parameters } : {}),
  };
  const now = new Date();
  w.changedTime = azureTime(now);
  w.version = workflowVersion(now);
  return { id: w.id, version: w.version };
}

export function seedSiteWorkflow(rt: Runtime, w: SeedSiteWorkflow): JsonObject {
  const s = siteOf(rt, w.siteId);
  const r = putSiteWorkflow(s, w);
  return { id: `${s.id}/workflows/${r.name}`, version: r.version };
}

export function seedSiteConnections(rt: Runtime, c: SeedSiteConnections): JsonObject {
  siteOf(rt, c.siteId).connectionsJson = c.connections;
  return { siteId: c.siteId };
}

export function seedConnection(rt: Runtime, c: SeedConnection): JsonObject {
  const location = c.location ?? "westeurope";
  seedResourceGroup(rt, { subscriptionId: c.subscriptionId, name: c.resourceGroup, location });
  const apiId =
    c.apiId ??
    `/subscriptions/${c.subscriptionId}/providers/Microsoft.Web/locations/${location}/managedApis/${c.name}`;
  const { record } = putConnection(rt, c.subscriptionId, c.resourceGroup, c.name, {
    location,
    ...(c.kind ? { kind: c.kind } : {}),
    properties: {
      ...(c.properties ?? {}),
      api: { ...(c.properties?.api as JsonObject | undefined), id: apiId },
    },
  });
  return renderConnection(record);
}

export function seedConnectionAccessPolicy(rt: Runtime, p: SeedConnectionAccessPolicy): JsonObject {
  const c = connectionOf(rt, p.connectionId);
  const { record } = putAccessPolicy(c, p.name, {
    properties: {
      principal: {
        type: "ActiveDirectory",
        identity: { objectId: p.objectId, tenantId: p.tenantId ?? rt.state.tenantId },
      },
    },
  });
  return renderAccessPolicy(c, record);
}

export function listConnectionAccessPolicies(rt: Runtime, id: string): JsonObject[] {
  const c = connectionOf(rt, id);
  return Object.values(c.accessPolicies).map((p) => renderAccessPolicy(c, p));
}
