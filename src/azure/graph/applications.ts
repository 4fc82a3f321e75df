/**
 * ApplicationPort over Microsoft Graph v1.0 `/applications`, `/servicePrincipals` and owners, through the Graph
 * request client in ./client.ts (retries off, Graph bearer token, observed like every adapter). Graph's answers
 * become AzureError by the table in ../errors.ts, plus the cases the code alone does not tell: the identifier-URI
 * conflict (400 Request_BadRequest with detail ObjectConflict on identifierUris → IdentifierUriInUse), an appId
 * Graph has not replicated yet (400 on POST /servicePrincipals → PrincipalNotFound) and an owner that is one already.
 */
import type { PipelineResponse } from "@azure/core-rest-pipeline";
import type {
  ApplicationAppRole,
  ApplicationChanges,
  ApplicationPort,
  ApplicationRegistration,
  CallOptions,
  DirectoryObjectRef,
  NewApplication,
  ServicePrincipal,
} from "../ports.ts";
import { invoke } from "../arm/transport.ts";
import type { TransportSettings } from "../arm/transport.ts";
import { toServicePrincipal } from "./app-role-assignments.ts";
import { GraphClient, graphError, parseJson, withKind } from "./client.ts";

/** Upper bound on pages followed for one listing: protects a worker from a nextLink loop. */
const MAX_PAGES = 100;

const odataString = (value: string): string => `'${value.replace(/'/g, "''")}'`;
const asString = (v: unknown): string => (typeof v === "string" ? v : "");

function toAppRole(r: Record<string, unknown>): ApplicationAppRole {
  return {
    id: asString(r.id),
    value: asString(r.value),
    displayName: asString(r.displayName),
    description: asString(r.description),
    isEnabled: r.isEnabled !== false,
    allowedMemberTypes: Array.isArray(r.allowedMemberTypes) ? r.allowedMemberTypes.map(asString) : [],
  };
}

function toRegistration(a: Record<string, unknown>): ApplicationRegistration {
  const api = (a.api ?? {}) as Record<string, unknown>;
  const v = api.requestedAccessTokenVersion;
  return {
    id: asString(a.id),
    appId: asString(a.appId),
    displayName: asString(a.displayName),
    identifierUris: Array.isArray(a.identifierUris) ? a.identifierUris.map(asString) : [],
    appRoles: Array.isArray(a.appRoles) ? (a.appRoles as Record<string, unknown>[]).map(toAppRole) : [],
    requestedAccessTokenVersion: v === 1 || v === 2 ? v : null,
    signInAudience: asString(a.signInAudience),
  };
}

/** The Graph body of a create or patch: only what the caller set, `appRoles` whole (Graph replaces the list). */
function toBody(c: ApplicationChanges): Record<string, unknown> {
  return {
    ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
    ...(c.identifierUris !== undefined ? { identifierUris: c.identifierUris } : {}),
    ...(c.signInAudience !== undefined ? { signInAudience: c.signInAudience } : {}),
    ...(c.requestedAccessTokenVersion !== undefined
      ? { api: { requestedAccessTokenVersion: c.requestedAccessTokenVersion } }
      : {}),
    ...(c.appRoles !== undefined
      ? {
          appRoles: c.appRoles.map((r) => ({
            id: r.id,
            value: r.value,
            displayName: r.displayName,
            description: r.description,
            allowedMemberTypes: r.allowedMemberTypes,
            isEnabled: r.isEnabled,
          })),
        }
      : {}),
  };
}

function ownerType(odataType: unknown): DirectoryObjectRef["type"] {
  const t = asString(odataType).replace(/^#microsoft\.graph\./, "");
  return t === "servicePrincipal" || t === "user" || t === "group" ? t : "other";
}

/** Graph's uniqueness answer names the property in `details` (ObjectConflict on identifierUris). */
function isIdentifierUriConflict(res: PipelineResponse): boolean {
  if (res.status !== 400) return false;
  const error = parseJson(res).error as { message?: string; details?: unknown } | undefined;
  const details = Array.isArray(error?.details) ? (error.details as Record<string, unknown>[]) : [];
  return (
    details.some((d) => d.code === "ObjectConflict" && d.target === "identifierUris") ||
    /same value for property identifierUris/i.test(error?.message ?? "")
  );
}

export class ApplicationAdapter implements ApplicationPort {
  readonly #graph: GraphClient;

  constructor(settings: TransportSettings) {
    this.#graph = new GraphClient(settings);
  }

  observeByAppId(appId: string, call: CallOptions = {}): Promise<ApplicationRegistration | undefined> {
    return this.#findOne(`appId eq ${odataString(appId)}`, call);
  }

  observeByIdentifierUri(uri: string, call: CallOptions = {}): Promise<ApplicationRegistration | undefined> {
    return this.#findOne(`identifierUris/any(x:x eq ${odataString(uri)})`, call);
  }

  create(app: NewApplication, call: CallOptions = {}): Promise<ApplicationRegistration> {
    return invoke("graph", "applications.create", async () => {
      const res = await this.#graph.send("POST", `${this.#graph.base}/applications`, toBody(app), call);
      if (res.status === 201 || res.status === 200) return toRegistration(parseJson(res));
      throw this.#error(res, "applications.create");
    });
  }

  patch(id: string, changes: ApplicationChanges, call: CallOptions = {}): Promise<void> {
    return invoke("graph", "applications.update", async () => {
      const res = await this.#graph.send("PATCH", this.#app(id), toBody(changes), call);
      if (res.status === 204 || res.status === 200) return;
      throw this.#error(res, "applications.update");
    });
  }

  delete(id: string, call: CallOptions = {}): Promise<void> {
    return invoke("graph", "applications.delete", async () => {
      const res = await this.#graph.send("DELETE", this.#app(id), undefined, call);
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw this.#error(res, "applications.delete");
    });
  }

  addOwner(id: string, ownerObjectId: string, call: CallOptions = {}): Promise<void> {
    return invoke("graph", "applicationOwners.add", async () => {
      const res = await this.#graph.send(
        "POST",
        `${this.#app(id)}/owners/$ref`,
        { "@odata.id": `${this.#graph.base}/directoryObjects/${encodeURIComponent(ownerObjectId)}` },
        call,
      );
      if (res.status === 204 || res.status === 200) return;
      const err = graphError(res, "applicationOwners.add");
      // "One or more added object references already exist": the owner is there, which is what was asked.
      if (res.status === 400 && /already exist/i.test(err.message)) return;
      throw err;
    });
  }

  listOwners(id: string, call: CallOptions = {}): Promise<DirectoryObjectRef[]> {
    return invoke("graph", "applicationOwners.list", async () => {
      const out: DirectoryObjectRef[] = [];
      let url: string | undefined = `${this.#app(id)}/owners`;
      for (let page = 0; url !== undefined; page++) {
        if (page >= MAX_PAGES) throw new Error(`graph applicationOwners.list: more than ${MAX_PAGES} pages`);
        const body = await this.#graph.getJson("applicationOwners.list", url, call);
        for (const o of Array.isArray(body.value) ? (body.value as Record<string, unknown>[]) : [])
          out.push({ id: asString(o.id), type: ownerType(o["@odata.type"]) });
        url = this.#graph.nextLink(body["@odata.nextLink"]);
      }
      return out;
    });
  }

  createServicePrincipal(appId: string, call: CallOptions = {}): Promise<ServicePrincipal> {
    return invoke("graph", "servicePrincipals.create", async () => {
      const res = await this.#graph.send("POST", `${this.#graph.base}/servicePrincipals`, { appId }, call);
      if (res.status === 201 || res.status === 200) return toServicePrincipal(parseJson(res));
      const err = graphError(res, "servicePrincipals.create");
      // Right after POST /applications the directory may not know the appId yet: wait and retry.
      if (res.status === 400 && /does not reference a valid application/i.test(err.message))
        throw withKind(err, "PrincipalNotFound");
      if (err.kind === "Exists") {
        // Adopt the SP that exists; if it has not replicated to reads yet, the caller re-reads later.
        const get = await this.#graph.send(
          "GET",
          `${this.#graph.base}/servicePrincipals(appId=${encodeURIComponent(odataString(appId))})`,
          undefined,
          call,
        );
        if (get.status === 200) return toServicePrincipal(parseJson(get));
      }
      throw err;
    });
  }

  #app(id: string): string {
    return `${this.#graph.base}/applications/${encodeURIComponent(id)}`;
  }

  #findOne(filter: string, call: CallOptions): Promise<ApplicationRegistration | undefined> {
    return invoke("graph", "applications.list", async () => {
      const body = await this.#graph.getJson(
        "applications.list",
        `${this.#graph.base}/applications?$filter=${encodeURIComponent(filter)}`,
        call,
      );
      const first = (Array.isArray(body.value) ? (body.value as Record<string, unknown>[]) : [])[0];
      return first ? toRegistration(first) : undefined;
    });
  }

  #error(res: PipelineResponse, operation: string) {
    const err = graphError(res, operation);
    return isIdentifierUriConflict(res) ? withKind(err, "Invalid", "IdentifierUriInUse") : err;
  }
}
