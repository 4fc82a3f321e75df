/**
 * ApimJwtPolicy as a kind of the pass engine: the referenced binding read from the manager's cache (no API call),
 * then gather → decide → apply against the target's policy document. When the spec moved to another target, the
 * prelude first takes our includes (or inline rule) out of every other target the operator's record lists, so they
 * do not stay behind unowned; the fragment is kept (the new target uses it). The record, not status, says where
 * the operator wrote: status is a report anyone with a `*` status rule can edit (ADR 0015).
 */
import { createHash } from "node:crypto";
import {
  JWT_POLICY_KIND,
  type ApiRegistration,
  type ApimJwtPolicy,
  type JwtPolicyStatus,
  type JwtPolicyTarget,
  type LogicAppIdentityBinding,
} from "../../api/v1alpha1/index.ts";
import { fragmentId, fragmentOwnerMarker, legacyFragmentId } from "../../azure/naming.ts";
import type { CallOptions } from "../../azure/ports.ts";
import { API_REGISTRATION_RESOURCE, BINDING_RESOURCE, JWT_POLICY_RESOURCE } from "../resources.ts";
import type { Kind } from "../shared/pass.ts";
import type { TenancyFence } from "../tenancy/fence.ts";
import { runRounds, type PassHooks, type Report } from "../shared/rounds.ts";
import { decideAccess } from "./access/decide-verdicts.ts";
import { gatherAccess } from "./access/gather-access.ts";
import { apply } from "./apply.ts";
import {
  decide,
  parseRecordTarget,
  recordTarget,
  ruleInput,
  targetLabel,
  type Action,
  type ConditionUpdate,
  type Decision,
  type Desired,
  type Observed,
  type ObservedRecord,
} from "./decide.ts";
import {
  apimTarget,
  bindingFacts,
  gather,
  readRecord,
  signalOf,
  targetFromLabel,
  type JwtPolicyPorts,
} from "./gather.ts";
import { recordKeyOf } from "../shared/ownership-store.ts";

/** status.appliedFingerprint: SHA-256 (hex) of the rule as rendered without base indentation. */
export function fingerprint(rule: string): string {
  return createHash("sha256").update(rule, "utf8").digest("hex");
}

export interface JwtPolicyKindOptions {
  ports: JwtPolicyPorts;
  /** The AzureAccessPolicy fence: a refused service or target is not read nor written (guard in PassDeps). */
  tenancy?: TenancyFence;
  /** Re-check while waiting for the binding (its watch also wakes us). Default 1 min. */
  waitRecheckMs?: number;
  /** 412 re-reads when cleaning a previous target. Default 3. */
  maxConflicts?: number;
}

type JwtHooks = PassHooks<ApimJwtPolicy, Observed, Action, JwtPolicyStatus>;
type BindingLookup = (namespace: string, name: string) => Readonly<LogicAppIdentityBinding> | undefined;
type RegistrationLookup = (namespace: string, name: string) => Readonly<ApiRegistration> | undefined;

export function jwtPolicyKind(
  options: JwtPolicyKindOptions,
): Kind<ApimJwtPolicy, Observed, Action, JwtPolicyStatus> {
  return {
    name: JWT_POLICY_KIND,
    resource: JWT_POLICY_RESOURCE,
    open: (obj, env) =>
      jwtPolicyPass(
        obj,
        options,
        env.call,
        (namespace, name) =>
          env.ctx.cache<LogicAppIdentityBinding>(BINDING_RESOURCE).get({ namespace, name }),
        (namespace, name) =>
          env.ctx.cache<ApiRegistration>(API_REGISTRATION_RESOURCE).get({ namespace, name }),
        () => env.ctx.cache<ApiRegistration>(API_REGISTRATION_RESOURCE).list(),
      ),
  };
}

/** What the policy wants, with the binding it references resolved from the cache. */
export function desiredOf(
  policy: Readonly<ApimJwtPolicy>,
  lookup: BindingLookup,
  registrations?: RegistrationLookup,
  /** Every ApiRegistration (the cache): an `api` grant whose appId or URI a registration reports uses its facts. */
  allRegistrations?: () => readonly Readonly<ApiRegistration>[],
): Desired {
  const ns = policy.metadata.namespace ?? "";
  const uid = policy.metadata.uid ?? "";
  const deleting = policy.metadata.deletionTimestamp !== undefined;
  const bindingName = policy.spec.bindingRef?.name;
  const binding =
    bindingName && !deleting
      ? bindingFacts(
          bindingName,
          lookup(ns, bindingName),
          (name) => registrations?.(ns, name),
          allRegistrations,
        )
      : undefined;
  return {
    namespace: ns,
    name: policy.metadata.name,
    uid,
    ...(policy.metadata.generation !== undefined ? { generation: policy.metadata.generation } : {}),
    spec: policy.spec,
    fragmentId: fragmentId(ns, policy.metadata.name, uid),
    ownerMarker: fragmentOwnerMarker(ns, policy.metadata.name, uid),
    legacyFragmentId: legacyFragmentId(ns, policy.metadata.name),
    ...(binding ? { binding } : {}),
    ...(deleting ? { deleting: true } : {}),
  };
}

export function jwtPolicyPass(
  policy: Readonly<ApimJwtPolicy>,
  options: JwtPolicyKindOptions,
  call: CallOptions,
  lookup: BindingLookup,
  registrations?: RegistrationLookup,
  allRegistrations?: () => readonly Readonly<ApiRegistration>[],
): JwtHooks {
  const { ports } = options;
  const desired = desiredOf(policy, lookup, registrations, allRegistrations);
  const target = apimTarget(policy.spec.apimServiceId, policy.spec.target);
  // Only for the report: a fingerprint recorded for another target says nothing about this one.
  const previousLabel = policy.status?.target;
  const moved = previousLabel !== undefined && previousLabel !== targetLabel(policy.spec.target);
  const waits = () => {
    const r = ruleInput(desired);
    return !desired.deleting && !r.ok && r.wait;
  };
  // The record as the prelude read it, for the first gather, when the prelude wrote nothing (one read per pass).
  let known: { record: ObservedRecord | null } | undefined;
  return {
    prelude: async () => {
      const r = await cleanPreviousTargets(policy, desired, options, call);
      known = r.unchanged;
      return r.reports;
    },
    gather: async (obj) => {
      const refusal = desired.deleting ? undefined : options.tenancy?.jwtPolicyVerdict(obj);
      if (refusal) return { ...(obj.status ? { previous: obj.status } : {}), tenancy: refusal };
      // Waiting for the binding is decided from the cache alone: no APIM read until there is a rule to compare.
      if (waits()) return obj.status ? { previous: obj.status } : {};
      const reuse = known;
      known = undefined;
      const observed = await gather(obj, ports, desired, reuse ?? {}, call);
      // After our own rule's reads: the chain then holds what this round established.
      if (ports.access && !desired.deleting)
        observed.access = await gatherAccess(obj.spec, desired.binding, ports.access, call, {
          target,
          xml: observed.policy?.xml,
          fragments: observed.fragment ? { [observed.fragment.fragmentId]: observed.fragment.xml } : {},
        });
      if (moved && observed.previous) {
        const { appliedFingerprint: _drop, ...rest } = observed.previous;
        observed.previous = rest;
      }
      return observed;
    },
    decide: (_obj, observed) =>
      withAccessVerdict(
        decide(desired, observed, {
          hash: fingerprint,
          ...(options.waitRecheckMs !== undefined ? { waitRecheckMs: options.waitRecheckMs } : {}),
        }),
        observed,
        desired,
        ports.access !== undefined,
      ),
    apply: (actions) => apply(actions, ports, target, desired, call),
    // The Events say what a round's writes meant (decide's onWrite), not one per APIM request.
    report: () => ({}),
  };
}

/**
 * Adds AccessVerified and status.accessCheck to a decision. A verdict only: Ready, Stalled and the actions are left
 * as decide made them (docs/access-check.md). Not checked this round (waiting, refused by tenancy, deleting): Unknown.
 */
function withAccessVerdict(d: Decision, observed: Observed, desired: Desired, enabled: boolean): Decision {
  if (!enabled || desired.deleting) return d;
  const { accessCheck: _previous, ...status } = d.status;
  const r = observed.access
    ? decideAccess(observed.access, desired.generation)
    : decideAccess(
        { kind: "unavailable", reason: "NotChecked", message: "the rule's target was not read in this pass" },
        desired.generation,
      );
  const conditions = (d.conditions as ConditionUpdate[]).filter((c) => c.type !== "AccessVerified");
  conditions.push(r.condition);
  return { ...d, status: r.status ? { ...status, accessCheck: r.status } : status, conditions };
}

/**
 * Every target the record lists other than the current one: remove our part there (deletionPolicy Delete) or let it
 * go (Orphan), then drop it from the record. Only includes of our own fragment IDs (ours now, and the ones the
 * record lists) are removed, never another object's. A previous document we cannot read safely (malformed) is left
 * alone with a Warning and stays in the record; the move goes on.
 */
async function cleanPreviousTargets(
  policy: Readonly<ApimJwtPolicy>,
  desired: Desired,
  options: JwtPolicyKindOptions,
  call: CallOptions,
): Promise<{ reports: Report[]; unchanged?: { record: ObservedRecord | null } }> {
  const { ports } = options;
  const record = await readRecord(ports, desired, call);
  if (!record) return { reports: [], unchanged: { record: null } };
  const here = recordTarget(policy.spec.apimServiceId, policy.spec.target);
  const stale = record.data.targets.filter((t) => t !== here);
  if (stale.length === 0) return { reports: [], unchanged: { record } };
  const reports: Report[] = [];
  const done: string[] = [];
  const orphan = (policy.spec.deletionPolicy ?? "Delete") === "Orphan";
  const serviceHere = policy.spec.apimServiceId.toLowerCase();
  const serviceOf = (entry: string) => parseRecordTarget(entry)?.serviceId.toLowerCase();
  /** Services the spec left whose fragments went with their last target: the record forgets them. */
  const servicesLeft = new Set<string>();
  for (const entry of stale) {
    const parsed = parseRecordTarget(entry);
    const previous = parsed ? targetFromLabel(parsed.label) : undefined;
    if (!parsed || !previous || orphan) {
      done.push(entry);
      continue;
    }
    const service = parsed.serviceId.toLowerCase();
    const ownIncludes = record.data.fragments
      .filter((f) => f.serviceId.toLowerCase() === service)
      .map((f) => f.fragmentId);
    // On a service the spec left, the fragment is included by nothing once this is its last target there (the
    // new target includes the fragment on its own service): it goes too, after the include (APIM refuses to
    // delete a referenced fragment). Kept, it stayed in that APIM and in the record for good.
    // Every other stale target on this service is already clean (a later one is not yet: so this is the last).
    const dropFragment =
      service !== serviceHere &&
      stale.every((e) => e === entry || serviceOf(e) !== service || done.includes(e));
    const r = await cleanPreviousTarget(
      policy,
      desired,
      parsed.serviceId,
      previous,
      ownIncludes,
      dropFragment,
      options,
      call,
    );
    reports.push(...r.reports);
    if (r.cleaned) {
      done.push(entry);
      if (dropFragment) servicesLeft.add(service);
    }
  }
  if (done.length > 0) {
    const next = {
      ...record.data,
      targets: record.data.targets.filter((t) => !done.includes(t)),
      fragments: record.data.fragments.filter((f) => !servicesLeft.has(f.serviceId.toLowerCase())),
    };
    await ports.records.put(recordKeyOf(desired), next, record.resourceVersion, signalOf(call));
  }
  return { reports };
}

async function cleanPreviousTarget(
  policy: Readonly<ApimJwtPolicy>,
  desired: Desired,
  serviceId: string,
  previous: JwtPolicyTarget,
  ownIncludes: string[],
  dropFragment: boolean,
  options: JwtPolicyKindOptions,
  call: CallOptions,
): Promise<{ reports: Report[]; cleaned: boolean }> {
  const previousLabel = targetLabel(previous);
  const spec = {
    ...policy.spec,
    apimServiceId: serviceId,
    target: previous,
    deletionPolicy: "Delete" as const,
  };
  const where = apimTarget(serviceId, previous);
  const within = { ...desired, spec, deleting: true, ownIncludes };
  let cleaned = false;
  const hooks: JwtHooks = {
    gather: () => gather({ ...policy, spec }, options.ports, within, { skipFragment: !dropFragment }, call),
    decide: (_obj, observed) => {
      const d = decide(within, observed, { hash: fingerprint });
      if (d.stalled) {
        const why =
          d.conditions.find((c) => c.type === "Stalled")?.message ?? `cannot clean ${previousLabel}`;
        return {
          ...d,
          actions: [],
          findings: [{ event: { type: "Warning", reason: "PreviousTargetNotCleaned", note: why } }],
        };
      }
      // The document; the fragment stays (the new target includes it) unless the spec left its service. The
      // record is the caller's to update.
      const actions = d.actions.filter(
        (a) =>
          a.type === "putPolicy" ||
          a.type === "deletePolicy" ||
          (dropFragment && a.type === "deleteFragment"),
      );
      cleaned = actions.length === 0;
      return {
        ...d,
        actions,
        onWrite: {
          event: {
            type: "Normal",
            reason: "Removed",
            note: `target moved: the rule was removed from ${previousLabel}`,
          },
        },
      };
    },
    apply: (actions) => apply(actions, options.ports, where, desired, call),
    report: () => ({}),
  };
  const r = await runRounds(hooks, policy, {
    now: () => "",
    maxRounds: 2,
    ...(options.maxConflicts !== undefined ? { maxConflicts: options.maxConflicts } : {}),
    ...(call.signal ? { signal: call.signal } : {}),
  });
  if (r.stoppedBy) throw r.stoppedBy;
  return { reports: r.reports, cleaned };
}
