/**
 * Reads what one ApimJwtPolicy pass needs, read-only: the referenced binding from the manager's cache (no API call)
 * and, through the ApimPort, the target's policy document (rawxml) and our fragment.
 * Steady-state cost: 2 requests (policy GET + fragment GET). The existence check of service/product/API/operation
 * (1-3 more GETs) only runs when the policy GET says 404, since a document can only exist on an existing target.
 */
import type { ApimJwtPolicy, JwtPolicyTarget, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { findCondition } from "../../api/v1alpha1/conditions.ts";
import { isAzureError } from "../../azure/errors.ts";
import type { ApimPolicyTarget, ApimPort, CallOptions, PolicyDocument } from "../../azure/ports.ts";
import type { BindingFacts, Observed } from "./decide.ts";

export interface JwtPolicyPorts {
  apim: ApimPort;
}

export function apimTarget(serviceId: string, target: JwtPolicyTarget | undefined): ApimPolicyTarget {
  return {
    serviceId,
    ...(target?.productId !== undefined ? { productId: target.productId } : {}),
    ...(target?.apiId !== undefined ? { apiId: target.apiId } : {}),
    ...(target?.operationId !== undefined ? { operationId: target.operationId } : {}),
  };
}

/**
 * Inverse of decide.targetLabel, to find the target recorded in status after the spec moved elsewhere. APIM entity
 * IDs cannot contain '/', so the label splits unambiguously; undefined for anything else.
 */
export function targetFromLabel(label: string): JwtPolicyTarget | undefined {
  if (label === "global") return {};
  const p = label.split("/");
  if (p.length === 2 && p[0] === "product") return { productId: p[1]! };
  if (p.length === 2 && p[0] === "api") return { apiId: p[1]! };
  if (p.length === 4 && p[0] === "api" && p[2] === "operation") return { apiId: p[1]!, operationId: p[3]! };
  return undefined;
}

/**
 * What the binding says now. Ready counts only when the Ready condition was computed from the binding's current
 * generation, so a just-edited binding is not read with its old grants. Audiences are the `api` values of its
 * app-role grants (identifier URI or appId — the value the Logic App asks a token for, hence the token's aud);
 * roles their app-role values.
 */
export function bindingFacts(
  name: string,
  binding: Readonly<LogicAppIdentityBinding> | undefined,
): BindingFacts {
  if (!binding) return { name, ready: false };
  const ready = findCondition(binding.status?.conditions, "Ready");
  const gen = binding.metadata.generation;
  const current =
    ready !== undefined &&
    ready.status === "True" &&
    (gen === undefined || ready.observedGeneration === undefined || ready.observedGeneration === gen);
  const grants = binding.spec.appRoleAssignments ?? [];
  const uniq = (xs: string[]) => [...new Set(xs)];
  return {
    name,
    ready: current,
    ...(binding.status?.principalId ? { principalId: binding.status.principalId } : {}),
    ...(binding.status?.tenantId ? { tenantId: binding.status.tenantId } : {}),
    audiences: uniq(grants.map((g) => g.api)),
    roles: uniq(grants.map((g) => g.appRole)),
  };
}

async function fragmentOf(apim: ApimPort, serviceId: string, fragmentId: string, call: CallOptions) {
  try {
    return await apim.getFragment(serviceId, fragmentId, call);
  } catch (e) {
    if (isAzureError(e, "NotFound")) return undefined;
    throw e;
  }
}

/** Observes one target: document (or why there is none) and, unless told not to, our fragment. */
export async function gather(
  policy: Readonly<ApimJwtPolicy>,
  ports: JwtPolicyPorts,
  fragmentId: string,
  options: { target?: JwtPolicyTarget; skipFragment?: boolean } = {},
  call: CallOptions = {},
): Promise<Observed> {
  const spec = policy.spec;
  const target = apimTarget(spec.apimServiceId, options.target ?? spec.target);
  let doc: PolicyDocument | undefined;
  try {
    doc = await ports.apim.getPolicy(target, call);
  } catch (e) {
    if (!isAzureError(e, "NotFound")) throw e;
  }
  const exists = doc ? ({ exists: true } as const) : await ports.apim.checkTarget(target, call);
  const fragment = options.skipFragment
    ? undefined
    : await fragmentOf(ports.apim, spec.apimServiceId, fragmentId, call);
  return {
    target: exists,
    ...(doc ? { policy: doc } : {}),
    ...(fragment ? { fragment } : {}),
    ...(policy.status ? { previous: policy.status } : {}),
  };
}
