/**
 * GraphPort over Microsoft Graph v1.0, through the Graph request client in ./client.ts (retries off, budgeted,
 * bearer token for the Graph scope). Graph errors become AzureError with the same classification as ARM's, plus the
 * two Graph-specific cases: a duplicate assignment (400 "already exists" → Exists) and a principal the directory
 * has not replicated yet (404 on create → PrincipalNotFound).
 */
import type { AppRole, AppRoleAssignment, CallOptions, GraphPort, ServicePrincipal } from "../ports.ts";
import { invoke } from "../arm/transport.ts";
import type { TransportSettings } from "../arm/transport.ts";
import { GraphClient, graphError, parseJson, withKind } from "./client.ts";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Upper bound on pages followed for one listing: protects a worker from a nextLink loop (99,900 assignments). */
const MAX_PAGES = 100;
/** The highest `$top` Graph accepts on directory-object collections. */
const GRAPH_MAX_PAGE = 999;

function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function asString(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function toAppRole(r: Record<string, unknown>): AppRole {
  return {
    id: asString(r.id),
    value: asString(r.value),
    isEnabled: r.isEnabled !== false,
    allowedMemberTypes: Array.isArray(r.allowedMemberTypes) ? r.allowedMemberTypes.map(asString) : [],
  };
}

export function toServicePrincipal(sp: Record<string, unknown>): ServicePrincipal {
  return {
    id: asString(sp.id),
    appId: asString(sp.appId),
    displayName: asString(sp.displayName),
    servicePrincipalNames: Array.isArray(sp.servicePrincipalNames)
      ? sp.servicePrincipalNames.map(asString)
      : [],
    appRoles: Array.isArray(sp.appRoles) ? (sp.appRoles as Record<string, unknown>[]).map(toAppRole) : [],
    appOwnerOrganizationId: typeof sp.appOwnerOrganizationId === "string" ? sp.appOwnerOrganizationId : null,
  };
}

function toAssignment(a: Record<string, unknown>): AppRoleAssignment {
  return {
    id: asString(a.id),
    principalId: asString(a.principalId),
    resourceId: asString(a.resourceId),
    appRoleId: asString(a.appRoleId),
  };
}

export class GraphAdapter implements GraphPort {
  readonly #graph: GraphClient;

  constructor(settings: TransportSettings) {
    this.#graph = new GraphClient(settings);
  }

  findServicePrincipal(api: string, call: CallOptions = {}): Promise<ServicePrincipal | undefined> {
    const filter = GUID.test(api)
      ? `appId eq ${odataString(api)}`
      : `servicePrincipalNames/any(c:c eq ${odataString(api)})`;
    return invoke("graph", "servicePrincipals.list", async () => {
      const body = await this.#graph.getJson(
        "servicePrincipals.list",
        `${this.#graph.base}/servicePrincipals?$filter=${encodeURIComponent(filter)}`,
        call,
      );
      const value = Array.isArray(body.value) ? (body.value as Record<string, unknown>[]) : [];
      const first = value[0];
      return first ? toServicePrincipal(first) : undefined;
    });
  }

  listAppRoleAssignedTo(resourceId: string, call: CallOptions = {}): Promise<AppRoleAssignment[]> {
    return invoke("graph", "appRoleAssignedTo.list", async () => {
      const out: AppRoleAssignment[] = [];
      // Graph's largest page (999; 100 without $top, learn.microsoft.com/graph/paging): the inventory lists every
      // API's assignments on each refresh, so pages, not bindings, are what its steady reads grow with.
      let url: string | undefined =
        `${this.#graph.base}/servicePrincipals/${encodeURIComponent(resourceId)}/appRoleAssignedTo?$top=${GRAPH_MAX_PAGE}`;
      for (let page = 0; url !== undefined; page++) {
        if (page >= MAX_PAGES) throw new Error(`graph appRoleAssignedTo.list: more than ${MAX_PAGES} pages`);
        const body = await this.#graph.getJson("appRoleAssignedTo.list", url, call);
        for (const a of Array.isArray(body.value) ? (body.value as Record<string, unknown>[]) : []) {
          out.push(toAssignment(a));
        }
        url = this.#graph.nextLink(body["@odata.nextLink"]);
      }
      return out;
    });
  }

  createAppRoleAssignment(
    resourceId: string,
    principalId: string,
    appRoleId: string,
    call: CallOptions = {},
  ): Promise<AppRoleAssignment> {
    return invoke("graph", "appRoleAssignedTo.create", async () => {
      const res = await this.#graph.send(
        "POST",
        `${this.#graph.base}/servicePrincipals/${encodeURIComponent(resourceId)}/appRoleAssignedTo`,
        { principalId, resourceId, appRoleId },
        call,
      );
      if (res.status === 201 || res.status === 200) return toAssignment(parseJson(res));
      const err = graphError(res, "appRoleAssignedTo.create");
      if (res.status === 400 && /already exists/i.test(err.message)) {
        throw withKind(err, "Exists");
      }
      // 404 on create: the resource SP was just read, so an unknown object is almost always the fresh managed
      // identity that Graph has not replicated yet; unless the message names the resource, wait and retry.
      if (res.status === 404) {
        const namesResource = err.message.includes(resourceId) && !err.message.includes(principalId);
        throw withKind(err, namesResource ? "NotFound" : "PrincipalNotFound");
      }
      throw err;
    });
  }

  deleteAppRoleAssignment(resourceId: string, assignmentId: string, call: CallOptions = {}): Promise<void> {
    return invoke("graph", "appRoleAssignedTo.delete", async () => {
      const res = await this.#graph.send(
        "DELETE",
        `${this.#graph.base}/servicePrincipals/${encodeURIComponent(resourceId)}/appRoleAssignedTo/${encodeURIComponent(assignmentId)}`,
        undefined,
        call,
      );
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw graphError(res, "appRoleAssignedTo.delete");
    });
  }
}
