/**
 * Reads what one ApimJwtPolicy pass needs, read-only: the referenced binding from the manager's cache (no API call)
 * and, through the ApimPort, the target's policy document (rawxml) and our fragment.
 * Steady-state cost: 2 requests (policy GET + fragment GET). The existence check of service/product/API/operation
 * (1-3 more GETs) only runs when the policy GET says 404, since a document can only exist on an existing target.
 */
import type {
  ApiRegistration,
  ApimJwtPolicy,
  JwtPolicyTarget,
  LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { findCondition } from "../../api/v1alpha1/conditions.ts";
import { isAzureError } from "../../azure/errors.ts";
import { parseFragmentOwner } from "../../azure/naming.ts";
import type { ApimPolicyTarget, ApimPort, CallOptions, PolicyDocument } from "../../azure/ports.ts";
import type { RecordAccess } from "../../runtime/records.ts";
import type { JwtPolicyRecord } from "../shared/ownership.ts";
import type { AccessPorts } from "./access/gather-access.ts";
import { recordKeyOf } from "../shared/ownership-store.ts";
import type {
  BindingFacts,
  Desired,
  Observed,
  ObservedFragment,
  ObservedRecord,
  RegisteredApi,
} from "./decide.ts";

/** The part of the records store (ownership-store.ts `jwtPolicies`) the kind uses. */
export type JwtRecordStore = RecordAccess<JwtPolicyRecord>;

export interface JwtPolicyPorts {
  apim: ApimPort;
  /** The access check's reads (access/gather-access.ts); without them no AccessVerified condition is reported. */
  access?: AccessPorts;
  /** The operator's records (createOwnershipStores(...).jwtPolicies): fragments owned and targets written. */
  records: JwtRecordStore;
}

/** Record-store calls take a signal; a port call may come without one (plan, tests). */
export const signalOf = (call: CallOptions): AbortSignal => call.signal ?? new AbortController().signal;

export async function readRecord(
  ports: JwtPolicyPorts,
  who: { namespace: string; name: string },
  call: CallOptions,
): Promise<ObservedRecord | undefined> {
  const r = await ports.records.get(recordKeyOf(who), signalOf(call));
  return r ? { data: r.data, resourceVersion: r.resourceVersion } : undefined;
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
  registration: (name: string) => Readonly<ApiRegistration> | undefined = () => undefined,
  allRegistrations: () => readonly Readonly<ApiRegistration>[] = () => [],
): BindingFacts {
  if (!binding) return { name, ready: false, missing: true };
  const ready = findCondition(binding.status?.conditions, "Ready");
  const gen = binding.metadata.generation;
  const stalledCond = findCondition(binding.status?.conditions, "Stalled");
  const stalled =
    stalledCond?.status === "True" &&
    (gen === undefined ||
      stalledCond.observedGeneration === undefined ||
      stalledCond.observedGeneration === gen)
      ? { reason: stalledCond.reason, message: stalledCond.message }
      : undefined;
  const current =
    ready !== undefined &&
    ready.status === "True" &&
    (gen === undefined || ready.observedGeneration === undefined || ready.observedGeneration === gen);
  const grants = binding.spec.appRoleAssignments ?? [];
  const uniq = <V>(xs: V[]) => [...new Set(xs)];
  // A grant through an ApiRegistration: the audience its tokens carry follows its token version (v2: the appId,
  // v1: the identifier URI), and so does the issuer (decide builds it for the tenant).
  const refs = grants.flatMap((g) => {
    const r = g.apiRegistrationRef ? registration(g.apiRegistrationRef.name) : undefined;
    return r ? [r] : [];
  });
  const versions = uniq(refs.map((r) => (r.status?.tokenVersion === 2 ? 2 : 1) as 1 | 2));
  const audienceOf = (g: (typeof grants)[number]): string | undefined => {
    if (g.api !== undefined) return g.api;
    const r = g.apiRegistrationRef ? registration(g.apiRegistrationRef.name) : undefined;
    if (!r) return undefined;
    return r.status?.tokenVersion === 2
      ? r.status.appId
      : (r.status?.identifierUris?.[0] ?? r.spec.identifierUris[0]);
  };
  const registered = registeredApis(grants, registration, allRegistrations);
  return {
    name,
    ready: current,
    ...(stalled ? { stalled } : {}),
    ...(registered.length > 0 ? { registered } : {}),
    ...(binding.status?.principalId ? { principalId: binding.status.principalId } : {}),
    ...(binding.status?.tenantId ? { tenantId: binding.status.tenantId } : {}),
    ...(binding.status?.clientId ? { clientId: binding.status.clientId } : {}),
    ...(versions.length > 0 ? { tokenVersions: versions } : {}),
    audiences: uniq(grants.map(audienceOf).filter((a): a is string => a !== undefined)),
    roles: uniq(grants.map((g) => g.appRole)),
  };
}

/** The registration's status as a RegisteredApi, once it reports an appId (what it observed in Graph). */
function asRegistered(r: Readonly<ApiRegistration>): RegisteredApi | undefined {
  const s = r.status;
  if (!s?.appId || r.metadata.deletionTimestamp !== undefined) return undefined;
  return {
    registration: `${r.metadata.namespace ?? ""}/${r.metadata.name}`,
    appId: s.appId,
    identifierUris: [...(s.identifierUris ?? [])],
    // api.requestedAccessTokenVersion: "If the value is null, this defaults to 1" (apiapplication resource).
    tokenVersion: s.tokenVersion === 2 ? 2 : 1,
  };
}

/**
 * The grants' APIs that an ApiRegistration declares: by reference (same namespace), or an `api` that a
 * registration's status names as its appId or one of its identifier URIs. Status is written by the operator only
 * (the status subresource), so it is what Graph held when the registration was last reconciled.
 */
function registeredApis(
  grants: readonly { api?: string | undefined; apiRegistrationRef?: { name: string } | undefined }[],
  registration: (name: string) => Readonly<ApiRegistration> | undefined,
  allRegistrations: () => readonly Readonly<ApiRegistration>[],
): RegisteredApi[] {
  const out = new Map<string, RegisteredApi>();
  let all: readonly Readonly<ApiRegistration>[] | undefined;
  for (const g of grants) {
    let r: RegisteredApi | undefined;
    if (g.apiRegistrationRef) {
      const found = registration(g.apiRegistrationRef.name);
      r = found ? asRegistered(found) : undefined;
    } else if (g.api !== undefined) {
      const api = g.api;
      all ??= allRegistrations();
      r = all
        .map(asRegistered)
        .find(
          (x) =>
            x !== undefined &&
            (x.appId.toLowerCase() === api.toLowerCase() || x.identifierUris.includes(api)),
        );
    }
    if (r) out.set(r.registration, r);
  }
  return [...out.values()];
}

async function fragmentOf(
  apim: ApimPort,
  serviceId: string,
  fragmentId: string,
  call: CallOptions,
): Promise<ObservedFragment | undefined> {
  let f;
  try {
    f = await apim.getFragment(serviceId, fragmentId, call);
  } catch (e) {
    if (isAzureError(e, "NotFound")) return undefined;
    throw e;
  }
  if (!f) return undefined;
  const owner = parseFragmentOwner(f.description);
  return { ...f, fragmentId, ...(owner ? { owner } : {}) };
}

/**
 * Other IDs this object's rule may live under: the record's fragments on this service and, while there is no
 * record yet (an object from before issue 11), the legacy ID. Decide adopts only those that prove to be ours.
 */
async function predecessorsOf(
  ports: JwtPolicyPorts,
  desired: Desired,
  record: ObservedRecord | undefined,
  call: CallOptions,
): Promise<ObservedFragment[]> {
  const svc = desired.spec.apimServiceId;
  const ids = new Set(
    (record?.data.fragments ?? [])
      .filter((f) => f.serviceId.toLowerCase() === svc.toLowerCase())
      .map((f) => f.fragmentId),
  );
  if (!record) ids.add(desired.legacyFragmentId);
  ids.delete(desired.fragmentId);
  const found = await Promise.all([...ids].map((id) => fragmentOf(ports.apim, svc, id, call)));
  return found.filter((f): f is ObservedFragment => f !== undefined);
}

/**
 * Observes one target: the document (or why there is none) and, unless told not to (cleaning a previous target),
 * the record, the fragment under our ID and the predecessors to migrate from.
 */
export async function gather(
  policy: Readonly<ApimJwtPolicy>,
  ports: JwtPolicyPorts,
  desired: Desired,
  options: {
    target?: JwtPolicyTarget;
    skipFragment?: boolean;
    /** The record as just read by the same pass (the prelude), so it is not read twice; null: there is none. */
    record?: ObservedRecord | null;
  } = {},
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
  if (options.skipFragment) {
    return {
      target: exists,
      ...(doc ? { policy: doc } : {}),
      ...(policy.status ? { previous: policy.status } : {}),
    };
  }
  const record =
    options.record !== undefined ? (options.record ?? undefined) : await readRecord(ports, desired, call);
  const [fragment, predecessors] = await Promise.all([
    fragmentOf(ports.apim, spec.apimServiceId, desired.fragmentId, call),
    predecessorsOf(ports, desired, record, call),
  ]);
  return {
    target: exists,
    ...(doc ? { policy: doc } : {}),
    ...(fragment ? { fragment } : {}),
    ...(predecessors.length > 0 ? { predecessors } : {}),
    ...(record ? { record } : {}),
    ...(policy.status ? { previous: policy.status } : {}),
  };
}
