/**
 * WorkflowPort over @azure/arm-logic (Consumption: Workflows_Get carries `properties.definition` and `parameters`)
 * and @azure/arm-appservice 19 (Standard: WebApps_ListWorkflows, then WebApps_GetWorkflow for each, whose
 * `properties.files["workflow.json"].definition` holds the definition and `files["connections.json"]` the app's
 * connections; wire facts §13, examples web/ListWorkflows.json and web/GetWorkflow.json). Read-only.
 */
import type { LogicManagementClient } from "@azure/arm-logic";
import type { WebSiteManagementClient } from "@azure/arm-appservice";
import type { CallOptions, LogicAppWorkflows, WorkflowDefinition, WorkflowPort } from "../ports.ts";
import { absentOn404, invalidId, invoke, parseResourceId } from "./transport.ts";
import type { PerSubscription } from "./transport.ts";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export class WorkflowAdapter implements WorkflowPort {
  readonly #logic: PerSubscription<LogicManagementClient>;
  readonly #web: PerSubscription<WebSiteManagementClient>;

  constructor(clients: {
    logic: PerSubscription<LogicManagementClient>;
    web: PerSubscription<WebSiteManagementClient>;
  }) {
    this.#logic = clients.logic;
    this.#web = clients.web;
  }

  async readDefinitions(logicAppId: string, call: CallOptions = {}): Promise<LogicAppWorkflows | undefined> {
    const p = parseResourceId(logicAppId);
    if (p && p.children.length === 0 && p.type === "microsoft.logic/workflows") {
      const wf = await absentOn404(
        invoke("arm-logic", "workflows.get", () =>
          this.#logic
            .get(p.subscriptionId)
            .workflows.get(p.resourceGroup, p.name, { abortSignal: call.signal }),
        ),
      );
      if (!wf) return undefined;
      return { workflows: [{ workflow: p.name, definition: wf.definition, parameters: wf.parameters }] };
    }
    if (p && p.children.length === 0 && p.type === "microsoft.web/sites") {
      const web = this.#web.get(p.subscriptionId);
      const names: string[] = [];
      const listed = await absentOn404(
        invoke("arm-web", "webApps.listWorkflows", async () => {
          for await (const w of web.webApps.listWorkflows(p.resourceGroup, p.name, {
            abortSignal: call.signal,
          }))
            // `name` is "site/workflow": the workflow's name is the id's last segment (wire facts §13).
            names.push((w.id ?? w.name ?? "").split("/").pop() ?? "");
          return true;
        }),
      );
      if (!listed) return undefined;
      const workflows: WorkflowDefinition[] = [];
      let connectionsJson: unknown;
      for (const name of names.filter(Boolean)) {
        const env = await absentOn404(
          invoke("arm-web", "webApps.getWorkflow", () =>
            web.webApps.getWorkflow(p.resourceGroup, p.name, name, { abortSignal: call.signal }),
          ),
        );
        const files: unknown = env?.properties?.files;
        if (!isObject(files)) continue;
        const wfJson = files["workflow.json"];
        workflows.push({ workflow: name, definition: isObject(wfJson) ? wfJson.definition : undefined });
        if (connectionsJson === undefined && files["connections.json"] !== undefined)
          connectionsJson = files["connections.json"];
      }
      return { workflows, ...(connectionsJson !== undefined ? { connectionsJson } : {}) };
    }
    throw invalidId(
      "arm-logic",
      "workflows.get",
      logicAppId,
      "a Microsoft.Logic/workflows or Microsoft.Web/sites ID",
    );
  }
}
