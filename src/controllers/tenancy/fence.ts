/**
 * The reconcilers' tenancy fence: the policies and namespace labels from the manager's informer caches, the
 * verdicts gather puts into each kind's observation, and the engine's `authorize` guard (the second fence: every
 * create and identity change re-checked against the policies as they are when the write is about to go out; a
 * delete of our own grant always passes, as does everything while the object is being deleted).
 *
 * The guard sees actions, not the observation, so gather records here what it resolved (a role definition's
 * permissions by GUID, a service principal's appId, owner tenant and app roles by object ID). A write whose facts
 * were never resolved is refused (RoleNotResolved / NotAllowed): the fence fails closed.
 */
import type { AzureAccessPolicy } from "../../api/v1alpha1/access-policy.ts";
import type { ApiRegistration, ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import type { RegistrationAction } from "../api-registration/model.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";
import type { RoleDefinition, ServicePrincipal } from "../../azure/ports.ts";
import type { CacheReader } from "../../runtime/reconciler.ts";
import type { BindingAction, BindingObservation } from "../binding/model.ts";
import type { Denial, Guard, PassAction } from "../shared/rounds.ts";
import { authorize, type AccessRequest, type TenancyInput, type TenancyMode } from "./authorize.ts";
import {
  appRoleRequest,
  bindingVerdicts,
  identityRequests,
  jwtPolicyVerdict,
  roleNameGuids,
  roleRequest,
  type BindingVerdicts,
  type Refusal,
} from "./requests.ts";

const lower = (s: string) => s.toLowerCase();

export interface TenancyFenceOptions {
  mode: TenancyMode;
  policies: CacheReader<AzureAccessPolicy>;
  /** Cluster-scoped Namespace objects, for their labels. */
  namespaces: CacheReader<KubeObject>;
}

export class TenancyFence {
  readonly mode: TenancyMode;
  private readonly policies: CacheReader<AzureAccessPolicy>;
  private readonly namespaces: CacheReader<KubeObject>;
  /** Resolved facts by role definition GUID / service principal object ID (lower case), for the guard. */
  private readonly roleFacts = new Map<string, RoleDefinition>();
  private readonly spFacts = new Map<string, ServicePrincipal>();

  constructor(options: TenancyFenceOptions) {
    this.mode = options.mode;
    this.policies = options.policies;
    this.namespaces = options.namespaces;
  }

  /** The matcher's input for a namespace, as the caches hold it now. */
  input(namespace: string, names?: ReadonlyMap<string, string>): TenancyInput {
    const labels = this.namespaces.get(namespace)?.metadata.labels ?? {};
    return {
      mode: this.mode,
      policies: this.policies.list(),
      namespace: { name: namespace, labels },
      ...(names ? { roleNameGuids: names } : {}),
    };
  }

  /** Gather: the verdicts on a binding's spec from what the pass resolved (remembered for the guard). */
  bindingVerdicts(
    binding: Readonly<LogicAppIdentityBinding>,
    observed: Pick<BindingObservation, "roles" | "apis">,
  ): BindingVerdicts {
    for (const r of observed.roles)
      if (r.definition) this.roleFacts.set(r.definition.name.toLowerCase(), r.definition);
    for (const a of observed.apis)
      if (a.servicePrincipal) this.spFacts.set(a.servicePrincipal.id.toLowerCase(), a.servicePrincipal);
    const names = roleNameGuids(observed.roles.map((r) => r.definition));
    return bindingVerdicts(binding, observed, this.input(binding.metadata.namespace ?? "", names));
  }

  /** Gather: whether the binding's namespace may have the operator give its identity access to a connection. */
  connectionVerdict(binding: Readonly<LogicAppIdentityBinding>, connectionId: string): Refusal | undefined {
    if (binding.metadata.deletionTimestamp !== undefined) return undefined;
    const v = authorize(this.input(binding.metadata.namespace ?? ""), {
      kind: "useConnection",
      connectionId,
    });
    return v.allowed ? undefined : { reason: v.reason, rule: v.rule, message: v.message };
  }

  jwtPolicyVerdict(policy: Readonly<ApimJwtPolicy>): Refusal | undefined {
    return jwtPolicyVerdict(policy, this.input(policy.metadata.namespace ?? ""));
  }

  /** Gather: the verdict on one identifier URI an ApiRegistration declares. */
  apiRegistrationVerdict(reg: Readonly<ApiRegistration>): (uri: string) => Refusal | undefined {
    const input = this.input(reg.metadata.namespace ?? "");
    return (uri) => {
      const v = authorize(input, { kind: "declareApiRegistration", identifierUri: uri });
      return v.allowed ? undefined : { reason: v.reason, rule: v.rule, message: v.message };
    };
  }

  /** The guard for ApiRegistration: every create and change re-checked against the URIs it would carry. */
  readonly apiRegistrationGuard: Guard<ApiRegistration> = (obj, actions) =>
    this.split(obj, actions, (a) => {
      const action = a as PassAction as RegistrationAction;
      if (action.type === "deleteApplication") return [];
      const uris =
        action.type === "createApplication" || action.type === "patchApplication"
          ? (("app" in action ? action.app.identifierUris : action.changes.identifierUris) ??
            obj.spec.identifierUris)
          : obj.spec.identifierUris;
      return uris.map((identifierUri) => ({ kind: "declareApiRegistration" as const, identifierUri }));
    });

  /** The guard for LogicAppIdentityBinding. */
  readonly bindingGuard: Guard<LogicAppIdentityBinding> = (obj, actions) =>
    this.split(obj, actions, (a) => this.bindingActionRequests(obj, a as PassAction as BindingAction));

  /** The guard for ApimJwtPolicy: every put re-checked against the spec's service and target. */
  readonly jwtPolicyGuard: Guard<ApimJwtPolicy> = (obj, actions) =>
    this.split(obj, actions, (a) => {
      if (a.type !== "putFragment" && a.type !== "putPolicy") return [];
      const refusal = this.jwtPolicyVerdict(obj);
      return refusal ? [refusal] : [];
    });

  private split<T extends KubeObject, X extends PassAction>(
    obj: Readonly<T>,
    actions: readonly X[],
    refusalsOf: (a: X) => (AccessRequest | Refusal)[],
  ): { allowed: X[]; denied: Denial<X>[] } {
    if (this.mode === "permissive" || obj.metadata.deletionTimestamp !== undefined)
      return { allowed: [...actions], denied: [] };
    const ns = obj.metadata.namespace ?? "";
    const allowed: X[] = [];
    const denied: Denial<X>[] = [];
    for (const action of actions) {
      let refusal: Refusal | undefined;
      for (const r of refusalsOf(action)) {
        if ("reason" in r) refusal = r;
        else {
          // A policy may name a custom role; it means the role this request resolved, as in gather.
          const names =
            r.kind === "grantRole" && r.roleName
              ? new Map([[lower(r.roleName), lower(r.roleDefinitionGuid)]])
              : undefined;
          const v = authorize(this.input(ns, names), r);
          if (!v.allowed) refusal = { reason: v.reason, rule: v.rule, message: v.message };
        }
        if (refusal) break;
      }
      if (refusal) denied.push({ action, reason: refusal.reason, message: refusal.message });
      else allowed.push(action);
    }
    return { allowed, denied };
  }

  /** What one binding write asks of Azure; deletes and the identity turned off on deletion ask nothing. */
  private bindingActionRequests(
    obj: Readonly<LogicAppIdentityBinding>,
    a: BindingAction,
  ): (AccessRequest | Refusal)[] {
    const ns = JSON.stringify(obj.metadata.namespace ?? "");
    switch (a.type) {
      case "deleteRoleAssignment":
      case "deleteAppRoleAssignment":
      case "deleteConnectionAccessPolicy":
        return [];
      case "putConnectionAccessPolicy":
        return [...identityRequests(obj.spec), { kind: "useConnection", connectionId: a.connectionId }];
      case "setIdentity":
        return a.why === "disableOnDelete" ? [] : identityRequests(obj.spec);
      case "createRoleAssignment": {
        const guid = (a.roleDefinitionId.split("/").at(-1) ?? "").toLowerCase();
        const def = this.roleFacts.get(guid);
        const grant: AccessRequest = def
          ? roleRequest(a.scope, def)
          : { kind: "grantRole", scope: a.scope, roleDefinitionGuid: guid };
        return [...identityRequests(obj.spec), grant];
      }
      case "createAppRoleAssignment": {
        const sp = this.spFacts.get(a.resourceId.toLowerCase());
        const role = sp?.appRoles.find((r) => r.id.toLowerCase() === a.appRoleId.toLowerCase());
        if (!sp || !role)
          return [
            {
              reason: "NotAllowed",
              rule: "builtin:unresolved-app-role",
              message: `namespace ${ns} may not grant app role ${a.appRoleId} of service principal ${a.resourceId}: it was not resolved in this pass`,
            },
          ];
        const api = obj.spec.appRoleAssignments?.find((x) => x.appRole === role.value)?.api ?? sp.appId;
        return [...identityRequests(obj.spec), appRoleRequest(api, sp, role.value)];
      }
    }
  }
}
