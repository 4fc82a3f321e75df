/**
 * ApiRegistration's reads: the tenancy verdict on every identifier URI (before Graph is read), the application (by
 * the appId status names, else by identifier URI), the claim that says which object manages it, the ownership probe
 * for an application the operator did not create, its service principal, and — when deleting with Delete — the
 * bindings in the cluster that still grant one of its roles.
 */
import type { ApiRegistration, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { isAzureError } from "../../azure/errors.ts";
import type { ApplicationPort, ApplicationRegistration, CallOptions, GraphPort } from "../../azure/ports.ts";
import type { RecordAccess } from "../../runtime/records.ts";
import type { Refusal } from "../binding/model.ts";
import type { RegistrationClaim, RegistrationObservation } from "./model.ts";

export interface RegistrationPorts {
  applications: ApplicationPort;
  graph: Pick<GraphPort, "findServicePrincipal">;
  /** Claims keyed by the application's object id (lower case). */
  claims: RecordAccess<RegistrationClaim>;
}

export const claimKey = (applicationId: string): string => applicationId.toLowerCase();
const whoOf = (c: { namespace: string; name: string }) => `${c.namespace}/${c.name}`;

export interface GatherContext {
  call: CallOptions;
  signal: AbortSignal;
  /** The tenancy verdict on one identifier URI (undefined: allowed, or no fence wired). */
  refuse?: (uri: string) => Refusal | undefined;
  /** Every binding in the cluster (the manager's cache), for the Delete check. */
  bindings: () => readonly Readonly<LogicAppIdentityBinding>[];
  /** Whether the pass's carried state knows the SP is waiting for replication. */
  servicePrincipalPending: boolean;
}

export async function gather(
  reg: Readonly<ApiRegistration>,
  ports: RegistrationPorts,
  ctx: GatherContext,
): Promise<RegistrationObservation> {
  const deleting = reg.metadata.deletionTimestamp !== undefined;
  if (!deleting && ctx.refuse) {
    for (const uri of reg.spec.identifierUris) {
      const refusal = ctx.refuse(uri);
      if (refusal) return { tenancy: refusal };
    }
  }
  const { app, elsewhere } = await findApplication(reg, ports.applications, ctx.call);
  const o: RegistrationObservation = elsewhere.length > 0 ? { urisHeldElsewhere: elsewhere } : {};
  if (!app) return o;
  o.app = app;
  const stored = await ports.claims.get(claimKey(app.id), ctx.signal);
  const self = {
    namespace: reg.metadata.namespace ?? "",
    name: reg.metadata.name,
    uid: reg.metadata.uid ?? "",
  };
  if (stored && whoOf(stored.data) !== whoOf(self)) {
    o.claimedBy = whoOf(stored.data);
    return o;
  }
  if (stored) {
    o.claim = stored.data;
    // A restored object (new UID, same namespace/name) takes its predecessor's claim over, as records do.
    if (!deleting && stored.data.uid !== self.uid) {
      const next = { ...stored.data, uid: self.uid };
      await ports.claims.put(claimKey(app.id), next, stored.resourceVersion, ctx.signal);
      o.claim = next;
    }
  } else if (!deleting) {
    // Adoption: prove ownership before claiming. With Application.ReadWrite.OwnedBy a PATCH that changes nothing is
    // refused (403) exactly when the operator is not an owner, and the operator does not need to know its own
    // object id to ask.
    try {
      await ports.applications.patch(app.id, { displayName: app.displayName }, ctx.call);
    } catch (e) {
      if (!isAzureError(e, "Forbidden")) throw e;
      o.notOwner = `the operator is not an owner of application ${app.appId} (${app.displayName})`;
      return o;
    }
    const claim: RegistrationClaim = {
      applicationId: app.id,
      appId: app.appId,
      ...self,
      created: false,
    };
    await ports.claims.put(claimKey(app.id), claim, undefined, ctx.signal);
    o.claim = claim;
  }
  const sp = await ports.graph.findServicePrincipal(app.appId, ctx.call);
  if (sp) o.servicePrincipal = sp;
  else if (ctx.servicePrincipalPending) o.servicePrincipalPending = true;
  if (deleting && (reg.spec.deletionPolicy ?? "Orphan") === "Delete")
    o.grantedBy = grantingBindings(reg, app, sp?.id, ctx.bindings());
  return o;
}

/** The application this object declares: the one status names (if it still answers), else by identifier URI. */
async function findApplication(
  reg: Readonly<ApiRegistration>,
  applications: ApplicationPort,
  call: CallOptions,
): Promise<{ app: ApplicationRegistration | undefined; elsewhere: { uri: string; appId: string }[] }> {
  let app = reg.status?.appId ? await applications.observeByAppId(reg.status.appId, call) : undefined;
  const elsewhere: { uri: string; appId: string }[] = [];
  for (const uri of reg.spec.identifierUris) {
    if (app?.identifierUris.includes(uri)) continue;
    const holder = await applications.observeByIdentifierUri(uri, call);
    if (!holder) continue;
    if (!app) app = holder;
    else if (holder.id !== app.id) elsewhere.push({ uri, appId: holder.appId });
  }
  return { app, elsewhere };
}

/**
 * Bindings anywhere in the cluster that grant one of the application's roles: by reference (same namespace), by
 * appId or identifier URI in the spec, or by a grant their status still reports on its service principal.
 */
export function grantingBindings(
  reg: Readonly<ApiRegistration>,
  app: ApplicationRegistration,
  servicePrincipalId: string | undefined,
  bindings: readonly Readonly<LogicAppIdentityBinding>[],
): string[] {
  const ns = reg.metadata.namespace ?? "";
  const names = new Set([app.appId.toLowerCase(), ...app.identifierUris.map((u) => u.toLowerCase())]);
  return bindings
    .filter((b) => {
      const bySpec = (b.spec.appRoleAssignments ?? []).some(
        (a) =>
          (a.apiRegistrationRef !== undefined &&
            b.metadata.namespace === ns &&
            a.apiRegistrationRef.name === reg.metadata.name) ||
          (a.api !== undefined && names.has(a.api.toLowerCase())),
      );
      const byStatus =
        servicePrincipalId !== undefined &&
        (b.status?.appRoleAssignments ?? []).some(
          (a) => a.resourceId?.toLowerCase() === servicePrincipalId.toLowerCase() && a.state !== "Failed",
        );
      return bySpec || byStatus;
    })
    .map((b) => `${b.metadata.namespace ?? ""}/${b.metadata.name}`)
    .sort();
}
