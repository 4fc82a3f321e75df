/**
 * ApiRegistration as a kind of the pass engine: the tenancy verdict per identifier URI, the application and its
 * claim, the service principal (waiting through replication), app roles with deterministic ids, and the deletion
 * policy (Orphan by default; Delete refused while bindings grant its roles). See docs/api-registration.md, ADR 0019.
 */
import { createHash } from "node:crypto";
import {
  API_REGISTRATION_KIND,
  type ApiRegistration,
  type ApiRegistrationStatus,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import type { KubeClient } from "../../runtime/client.ts";
import { RecordCorruptError, RecordStore } from "../../runtime/records.ts";
import { API_REGISTRATION_RESOURCE, BINDING_RESOURCE } from "../resources.ts";
import { PassReconciler, type Kind, type PassDeps } from "../shared/pass.ts";
import type { PassHooks } from "../shared/rounds.ts";
import type { TenancyFence } from "../tenancy/fence.ts";
import { apply } from "./apply.ts";
import { decide } from "./decide.ts";
import { gather, type RegistrationPorts } from "./gather.ts";
import type { RegistrationAction, RegistrationClaim, RegistrationObservation } from "./model.ts";

export const REGISTRATION_CLAIM_KIND = "apireg";

/**
 * An app role's id: a name-based UUID (RFC 9562 version 8 layout) over namespace, name and value. Not the UID: a
 * restored object (new UID) must find its roles, or every grant on them would look foreign. Not the display name:
 * renaming it must never change the id that grants point at.
 */
export function appRoleId(namespace: string, name: string, value: string): string {
  const h = createHash("sha256").update(`${namespace}\u0000${name}\u0000${value}`, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function parseRegistrationClaim(value: unknown): RegistrationClaim {
  const o = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const s = (k: string): string => {
    const v = o[k];
    if (typeof v !== "string") throw new RecordCorruptError(`registration claim: ${k} is not a string`);
    return v;
  };
  if (typeof o.created !== "boolean")
    throw new RecordCorruptError("registration claim: created is not a boolean");
  return {
    applicationId: s("applicationId"),
    appId: s("appId"),
    namespace: s("namespace"),
    name: s("name"),
    uid: s("uid"),
    created: o.created,
  };
}

export function registrationClaims(client: KubeClient, namespace: string): RecordStore<RegistrationClaim> {
  return new RecordStore({ client, namespace, kind: REGISTRATION_CLAIM_KIND, parse: parseRegistrationClaim });
}

export interface RegistrationKindOptions {
  ports: RegistrationPorts;
  tenancy?: TenancyFence;
  replicationPollMs?: number;
}

type Hooks = PassHooks<ApiRegistration, RegistrationObservation, RegistrationAction, ApiRegistrationStatus>;

export function apiRegistrationKind(
  options: RegistrationKindOptions,
): Kind<ApiRegistration, RegistrationObservation, RegistrationAction, ApiRegistrationStatus> {
  return {
    name: API_REGISTRATION_KIND,
    resource: API_REGISTRATION_RESOURCE,
    open: (obj, env): Hooks => {
      const signal = env.call.signal ?? env.ctx.signal;
      const self = {
        namespace: obj.metadata.namespace ?? "",
        name: obj.metadata.name,
        uid: obj.metadata.uid ?? "",
      };
      const roleId = (value: string) => appRoleId(self.namespace, self.name, value);
      let servicePrincipalPending = false;
      let claimToRelease: string | undefined;
      return {
        gather: async (reg) => {
          const o = await gather(reg, options.ports, {
            call: env.call,
            signal,
            ...(options.tenancy ? { refuse: options.tenancy.apiRegistrationVerdict(reg) } : {}),
            bindings: () => env.ctx.cache<LogicAppIdentityBinding>(BINDING_RESOURCE).list(),
            servicePrincipalPending,
          });
          // Kept from earlier rounds: after a Delete the application (and so its id) is gone from Graph.
          if (o.claim && o.app) claimToRelease = o.app.id;
          return o;
        },
        decide: (reg, observed) =>
          decide(reg, observed, {
            roleId,
            ...(options.replicationPollMs !== undefined
              ? { replicationPollMs: options.replicationPollMs }
              : {}),
          }),
        apply: async (actions) => {
          const r = await apply(actions, options.ports, { call: env.call, signal, self });
          if (r.servicePrincipalPending) servicePrincipalPending = true;
          return r;
        },
        // The claim goes last, with the finalizer: a retry of the deletion still finds what it managed.
        finalized: async () => {
          if (!claimToRelease) return;
          const key = claimToRelease.toLowerCase();
          const current = await options.ports.claims.get(key, signal);
          if (current && current.data.namespace === self.namespace && current.data.name === self.name)
            await options.ports.claims.delete(key, current.resourceVersion, signal);
        },
        report: (r) =>
          r.outcome === "done"
            ? {
                event: {
                  type: "Normal",
                  reason: reasonOf(r.action),
                  note: noteOf(r.action, r.detail),
                },
              }
            : {},
      };
    },
  };
}

function reasonOf(a: RegistrationAction): string {
  switch (a.type) {
    case "createApplication":
      return "ApplicationCreated";
    case "patchApplication":
      return a.why === "disableRoles" ? "AppRolesDisabled" : "ApplicationUpdated";
    case "createServicePrincipal":
      return "ServicePrincipalCreated";
    case "deleteApplication":
      return "ApplicationDeleted";
  }
}

function noteOf(a: RegistrationAction, detail: string | undefined): string {
  switch (a.type) {
    case "createApplication":
      return `created application ${detail ?? ""} (${a.app.identifierUris?.join(", ") ?? ""})`;
    case "patchApplication":
      return a.why === "disableRoles"
        ? "disabled app roles no longer declared; they are removed in the next write"
        : `updated ${Object.keys(a.changes).join(", ")}`;
    case "createServicePrincipal":
      return `created the service principal ${detail ?? ""} of ${a.appId}`;
    case "deleteApplication":
      return `deleted application ${a.appId} (restorable for 30 days)`;
  }
}

export type ApiRegistrationReconcilerDeps = RegistrationKindOptions & PassDeps<ApiRegistration>;

export class ApiRegistrationReconciler extends PassReconciler<
  ApiRegistration,
  RegistrationObservation,
  RegistrationAction,
  ApiRegistrationStatus
> {
  constructor(deps: ApiRegistrationReconcilerDeps) {
    // Removing an app role takes two writes (disable, remove) and the SP a third: room for them and an observation.
    super(apiRegistrationKind(deps), { maxRounds: 6, ...deps });
  }
}
