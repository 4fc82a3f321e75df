/**
 * The workflows of a Standard Logic App (a site of kind `functionapp,workflowapp`), as ARM exposes them:
 * WebApps_ListWorkflows / WebApps_GetWorkflow (`…/sites/{name}/workflows[/{workflowName}]`, arm-appservice 19,
 * api-version 2025-05-01; examples web/ListWorkflows.json and web/GetWorkflow.json, TypeSpec folder
 * `specification/web/resource-manager/Microsoft.Web/AppService/examples/2025-05-01/`) and WorkflowVersions_Get
 * (`…/sites/{name}/hostruntime/runtime/webhooks/workflow/api/management/workflows/{wf}/versions/{versionId}`,
 * example web/WorkflowVersions_Get.json). The definition is in GetWorkflow's `properties.files["workflow.json"]`
 * next to the app's `connections.json` (wire facts §13).
 */
import { azureTime, key, workflowVersion } from "../ids.ts";
import { armError, type Ctx, type Route } from "../http.ts";
import type { JsonObject, SiteRecord, SiteWorkflowRecord } from "../state.ts";
import { RG, SEG, asObject, requireResourceGroup } from "./common.ts";
import { siteId } from "./web.ts";

const VERSIONS = ["2025-05-01", "2025-03-01", "2024-11-01", "2024-04-01", "2023-12-01", "2022-09-01"];
const TYPE = "Microsoft.Web/sites/workflows";

function site(ctx: Ctx, sub: string, rg: string, name: string): SiteRecord {
  requireResourceGroup(ctx, sub, rg);
  const s = ctx.rt.state.sites[key(siteId(sub, rg, name))];
  if (!s)
    throw armError(
      404,
      "ResourceNotFound",
      `The Resource 'Microsoft.Web/sites/${name}' under resource group '${rg}' was not found.`,
    );
  return s;
}

function workflow(ctx: Ctx, s: SiteRecord, name: string): SiteWorkflowRecord {
  const w = s.workflows?.[name.toLowerCase()];
  // The example lists a bare 404 for GetWorkflow; the body here is ARM's usual one.
  if (!w) throw armError(404, "NotFound", `Workflow '${name}' was not found in site '${s.name}'.`);
  return w;
}

function renderListed(s: SiteRecord, w: SiteWorkflowRecord): JsonObject {
  return {
    name: `${s.name}/${w.name}`,
    type: TYPE,
    id: `${s.id}/workflows/${w.name}`,
    kind: w.kind,
    location: s.location,
    properties: { flowState: w.flowState, health: w.health },
  };
}

function renderWorkflow(s: SiteRecord, w: SiteWorkflowRecord): JsonObject {
  const listed = renderListed(s, w);
  const files: JsonObject = {};
  if (s.connectionsJson) files["connections.json"] = s.connectionsJson;
  files["workflow.json"] = { definition: w.definition };
  return { ...listed, properties: { files, ...asObject(listed.properties) } };
}

/** Creates or replaces a workflow's definition; every change is a new version, as the runtime keeps them. */
export function putSiteWorkflow(
  s: SiteRecord,
  w: { name: string; definition: JsonObject; parameters?: JsonObject; kind?: string; health?: JsonObject },
): SiteWorkflowRecord {
  const now = new Date();
  const version = workflowVersion(now);
  const existing = s.workflows?.[w.name.toLowerCase()];
  const createdTime = existing?.createdTime ?? azureTime(now);
  const parameters = w.parameters ?? {};
  const record: SiteWorkflowRecord = {
    name: existing?.name ?? w.name,
    kind: w.kind ?? existing?.kind ?? "Stateful",
    flowState: existing?.flowState ?? "Enabled",
    health: w.health ?? { state: "Healthy" },
    definition: w.definition,
    parameters,
    createdTime,
    changedTime: azureTime(now),
    version,
    versions: {
      ...(existing?.versions ?? {}),
      [version]: { definition: w.definition, parameters, createdTime, changedTime: azureTime(now) },
    },
  };
  s.workflows = { ...(s.workflows ?? {}), [w.name.toLowerCase()]: record };
  return record;
}

const common = { api: "arm" as const, resourceType: "sites/workflows", apiVersions: VERSIONS };
const SITE = `${RG}/providers/Microsoft\\.Web/sites/${SEG}`;

export const siteWorkflowRoutes: Route[] = [
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${SITE}/workflows$`, "i"),
    operation: "WebApps_ListWorkflows",
    kind: "read",
    handle: (ctx, [sub, rg, name]) => {
      const s = site(ctx, sub!, rg!, name!);
      const value = Object.values(s.workflows ?? {}).map((w) => renderListed(s, w));
      // The example prints `"nextLink": null` on the last page.
      return { status: 200, body: { nextLink: null, value } };
    },
  },
  {
    ...common,
    method: "GET",
    pattern: new RegExp(`^${SITE}/workflows/${SEG}$`, "i"),
    operation: "WebApps_GetWorkflow",
    kind: "read",
    handle: (ctx, [sub, rg, name, wf]) => {
      const s = site(ctx, sub!, rg!, name!);
      return { status: 200, body: renderWorkflow(s, workflow(ctx, s, wf!)) };
    },
  },
  {
    ...common,
    resourceType: "sites/workflows/versions",
    method: "GET",
    pattern: new RegExp(
      `^${SITE}/hostruntime/runtime/webhooks/workflow/api/management/workflows/${SEG}/versions/${SEG}$`,
      "i",
    ),
    operation: "WorkflowVersions_Get",
    kind: "read",
    handle: (ctx, [sub, rg, name, wf, versionId]) => {
      const s = site(ctx, sub!, rg!, name!);
      const w = workflow(ctx, s, wf!);
      const v = w.versions[versionId!];
      if (!v)
        throw armError(404, "NotFound", `Version '${versionId}' of workflow '${w.name}' was not found.`);
      return {
        status: 200,
        body: {
          name: w.name,
          type: `${TYPE}/versions`,
          id: `${s.id}/workflows/${w.name}/versions/${versionId}`,
          location: s.location,
          properties: {
            changedTime: v.changedTime,
            createdTime: v.createdTime,
            definition: v.definition,
            // The regional IPs are not modelled; the example prints empty lists too.
            endpointsConfiguration: {
              connector: { outgoingIpAddresses: [] },
              workflow: { accessEndpointIpAddresses: [], outgoingIpAddresses: [] },
            },
            parameters: v.parameters,
            version: versionId,
          },
        },
      };
    },
  },
];
