/**
 * One reconcile pass of an ApimJwtPolicy as a pure function: what was observed in, what to do and what to report
 * out. The reconciler runs the actions in order, stops at the first failure and calls decide again on a fresh
 * observation; a pass whose observation already matches returns no write action (steady state reads only).
 */
import type { JwtPolicySpec, JwtPolicyStatus, JwtPolicyTarget } from "../../api/v1alpha1/jwt-policy.ts";
import type { FragmentDocument, PolicyDocument } from "../../azure/ports.ts";
import type { JwtPolicyRecord } from "../shared/ownership.ts";
import type { Decision as PassDecision, Report } from "../shared/rounds.ts";
import type { Refusal } from "../tenancy/requests.ts";
import {
  canonicalEquals,
  checkWellFormed,
  formatXmlError,
  insertIncludeFragment,
  MAX_POLICY_CHARS,
  PolicyXmlError,
  removeIncludeFragment,
  replaceIncludeFragment,
  removeInlineRule,
  skeletonFor,
  upsertInlineRule,
  type PolicyScope,
} from "./xml.ts";
import type { AccessObservation } from "./access/decide-verdicts.ts";
import { checkRuleInput, renderFragment, renderValidateJwt, type ValidateJwtInput } from "./render.ts";

/** What the referenced LogicAppIdentityBinding currently says (resolved by the reconciler). */
export interface BindingFacts {
  name: string;
  /** False also when the binding does not exist. */
  ready: boolean;
  /** The binding is not in the cache: a person must create it (or fix bindingRef), so the policy is Stalled. */
  missing?: boolean;
  /** The binding is Stalled: nothing the policy can wait for, so it stalls too, naming the binding's reason. */
  stalled?: { reason: string; message: string };
  principalId?: string;
  tenantId?: string;
  /** Client id of a user-assigned identity (status.clientId); unknown for a system identity. */
  clientId?: string;
  /** App ID URIs / client IDs of the APIs the binding holds app roles on. */
  audiences?: string[];
  /** App role values the binding holds. */
  roles?: string[];
  /** Token versions of the ApiRegistrations its grants reference: the issuers follow them (v1 sts, v2 login). */
  tokenVersions?: (1 | 2)[];
  /**
   * The APIs among its grants that an ApiRegistration declares (by reference, or whose appId / identifier URI a
   * registration's status reports), as the registration observed them: the access check takes the token version
   * from here instead of reading the application in Graph.
   */
  registered?: RegisteredApi[];
}

/** An API as its ApiRegistration's status reports it (observed in Graph by the operator). */
export interface RegisteredApi {
  /** namespace/name of the ApiRegistration. */
  registration: string;
  appId: string;
  identifierUris: string[];
  tokenVersion: 1 | 2;
}

/** The issuer Entra puts in an access token of this version (v1: sts.windows.net; v2: login.microsoftonline.com). */
export function issuerFor(tenantId: string, version: 1 | 2): string {
  return version === 2
    ? `https://login.microsoftonline.com/${tenantId}/v2.0`
    : `https://sts.windows.net/${tenantId}/`;
}

export interface Desired {
  namespace: string;
  name: string;
  /** metadata.uid: part of the fragment ID and of its owner marker. */
  uid: string;
  generation?: number;
  spec: JwtPolicySpec;
  /** From naming.fragmentId(namespace, name, uid). */
  fragmentId: string;
  /** naming.fragmentOwnerMarker(namespace, name, uid): the description our fragment carries (ADR 0014). */
  ownerMarker: string;
  /** naming.legacyFragmentId(namespace, name): where versions before issue 11 put this object's fragment. */
  legacyFragmentId: string;
  /**
   * More fragment IDs whose includes are ours to remove (cleaning a previous target: the IDs the record lists). Only
   * ever from the operator's record, never from status.
   */
  ownIncludes?: string[];
  /** Required when spec.bindingRef is set; undefined means not resolved (treated as not ready). */
  binding?: BindingFacts;
  /** metadata.deletionTimestamp is set. */
  deleting?: boolean;
}

/** The owner a fragment's description names (parsed by the kind: naming.parseFragmentOwner). */
export interface FragmentOwner {
  namespace: string;
  name: string;
  uid: string;
}

/** A fragment as gather read it, with the owner its description names (undefined: no marker of ours). */
export interface ObservedFragment extends FragmentDocument {
  fragmentId: string;
  owner?: FragmentOwner;
}

/** The operator's record of this object (fragments it owns, targets it wrote to), with the version read. */
export interface ObservedRecord {
  data: JwtPolicyRecord;
  resourceVersion: string;
}

export interface Observed {
  /** Undefined when gather did not read APIM: the rule cannot be rendered yet (waiting for the binding). */
  target?: { exists: true } | { exists: false; missing: string };
  /** The target's policy document (rawxml), absent when the target has none. */
  policy?: PolicyDocument;
  /** The fragment under our ID, absent when it does not exist; whose it is, decide reads from `owner`. */
  fragment?: ObservedFragment;
  /**
   * Fragments this object may have made under other IDs and that exist: the legacy ID (when there is no record yet)
   * and the IDs the record lists on this service (a restored object's predecessor). Decide adopts only those whose
   * description proves they are this object's (ADR 0014, migration).
   */
  predecessors?: ObservedFragment[];
  /** The ownership record (undefined: none yet). */
  record?: ObservedRecord;
  /** Status as last written, to tell drift from a first apply or a spec change. */
  previous?: JwtPolicyStatus;
  /** The AzureAccessPolicy matcher refused the service or target: no APIM read, no write, Stalled. */
  tenancy?: Refusal;
  /** What the access check read (access/gather-access.ts); absent when the kind runs without its ports. */
  access?: AccessObservation;
}

/**
 * `ifMatch` undefined on a PUT is create-only (APIM refuses to overwrite without If-Match); otherwise the etag read
 * in the same observation that proved the entity ours. A migration delete may be refused (409, still included by
 * another document): it is left for a later pass.
 */
export type Action =
  | { type: "putRecord"; record: JwtPolicyRecord; resourceVersion?: string }
  | { type: "putFragment"; fragmentId: string; xml: string; description: string; ifMatch?: string }
  | { type: "putPolicy"; xml: string; ifMatch?: string }
  | { type: "deletePolicy"; ifMatch: string }
  | { type: "deleteFragment"; fragmentId: string; ifMatch: string; migration?: true }
  | { type: "deleteRecord"; resourceVersion: string };

/** Reason of the Stalled condition when a fragment under our ID is not ours (ADR 0014). */
export const FRAGMENT_OWNED_BY_OTHER = "FragmentOwnedByOther";
/** Reason of the Stalled condition when the document is (or would become) larger than APIM stores. */
export const POLICY_TOO_LARGE = "PolicyTooLarge";

export interface ConditionUpdate {
  type: "Ready" | "Reconciling" | "Stalled" | "PolicyApplied" | "AccessVerified";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
}

export type Decision = PassDecision<Action, JwtPolicyStatus> & { conditions: ConditionUpdate[] };

export interface DecideOptions {
  /** Hex digest of a rendered rule (SHA-256 in production), for status.appliedFingerprint. */
  hash: (text: string) => string;
  /** Re-check while waiting for the binding (its watch also wakes us). Default 1 min. */
  waitRecheckMs?: number;
}

export function scopeOf(target: JwtPolicyTarget | undefined): PolicyScope {
  if (target?.operationId) return "operation";
  if (target?.apiId) return "api";
  if (target?.productId) return "product";
  return "global";
}

export function targetLabel(target: JwtPolicyTarget | undefined): string {
  if (target?.apiId && target.operationId) return `api/${target.apiId}/operation/${target.operationId}`;
  if (target?.apiId) return `api/${target.apiId}`;
  if (target?.productId) return `product/${target.productId}`;
  return "global";
}

export function markerIdOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function fragmentDescription(namespace: string, name: string): string {
  return (
    `validate-jwt managed by logicapp-identity-operator for ApimJwtPolicy ${namespace}/${name}. ` +
    "Edits are reverted; change the ApimJwtPolicy instead."
  );
}

/** How the record names a target: the service plus the label, so a move to another service is a move too. */
export function recordTarget(serviceId: string, target: JwtPolicyTarget | undefined): string {
  return `${serviceId.toLowerCase()}|${targetLabel(target)}`;
}

/** Inverse of recordTarget; undefined for anything else. */
export function parseRecordTarget(entry: string): { serviceId: string; label: string } | undefined {
  const bar = entry.indexOf("|");
  if (bar <= 0) return undefined;
  return { serviceId: entry.slice(0, bar), label: entry.slice(bar + 1) };
}

const namesThis = (owner: FragmentOwner | undefined, d: Desired): boolean =>
  owner !== undefined && owner.namespace === d.namespace && owner.name === d.name;

/** The fragment's marker names this object: namespace, name and UID (ADR 0014). */
export function ownsFragment(desired: Desired, f: ObservedFragment): boolean {
  return namesThis(f.owner, desired) && f.owner?.uid === desired.uid;
}

function ownerText(f: ObservedFragment): string {
  return f.owner ? `${f.owner.namespace}/${f.owner.name} (uid ${f.owner.uid})` : "no owner marker";
}

/**
 * The fragments under other IDs that are provably this object's, to migrate away from (ADR 0014): the legacy ID
 * only with exactly the legacy description for this namespace/name (the legacy ID alone is ambiguous:
 * `laio-team-a-orders` may be `team/a-orders`'s), and an ID the operator's record lists whose marker names this
 * namespace/name (a restored object's predecessor, another UID). Anything else is foreign and never touched.
 */
export function adoptable(desired: Desired, observed: Observed): ObservedFragment[] {
  const svc = desired.spec.apimServiceId.toLowerCase();
  const listed = new Set(
    (observed.record?.data.fragments ?? [])
      .filter((f) => f.serviceId.toLowerCase() === svc)
      .map((f) => f.fragmentId),
  );
  const legacyDescription = fragmentDescription(desired.namespace, desired.name);
  return (observed.predecessors ?? []).filter(
    (p) =>
      p.fragmentId !== desired.fragmentId &&
      ((p.fragmentId === desired.legacyFragmentId && p.description === legacyDescription) ||
        (listed.has(p.fragmentId) && namesThis(p.owner, desired))),
  );
}

const uniq = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

/**
 * The record after this decision: the fragments on this service that are ours and exist or are about to be created
 * (write-ahead, so a crash leaves nothing unrecorded), those on other services as they were, and every target we
 * may have an include in. Entries leave only when an observation shows them gone.
 */
function nextRecord(
  desired: Desired,
  observed: Observed,
  fragments: string[],
  target?: string,
): JwtPolicyRecord {
  const svc = desired.spec.apimServiceId.toLowerCase();
  const prev = observed.record?.data;
  const elsewhere = (prev?.fragments ?? []).filter((f) => f.serviceId.toLowerCase() !== svc);
  return {
    uid: desired.uid,
    fragments: [
      ...elsewhere,
      ...uniq(fragments).map((fragmentId) => ({ serviceId: desired.spec.apimServiceId, fragmentId })),
    ],
    targets: uniq([...(prev?.targets ?? []), ...(target !== undefined ? [target] : [])]),
  };
}

function recordWrite(observed: Observed, next: JwtPolicyRecord): Action[] {
  const prev = observed.record;
  if (prev && JSON.stringify(prev.data) === JSON.stringify(next)) return [];
  return [{ type: "putRecord", record: next, ...(prev ? { resourceVersion: prev.resourceVersion } : {}) }];
}

/** Resolves spec + binding into the render input, or says why it cannot be done yet. */
export function ruleInput(
  desired: Desired,
): { ok: true; input: ValidateJwtInput } | { ok: false; wait: boolean; reason: string; message: string } {
  const { spec, binding } = desired;
  if (spec.bindingRef) {
    const bname = spec.bindingRef.name;
    // Waiting is only for a binding on its way to Ready; a missing or Stalled one needs a person (reliability
    // matrix, docs/reliability.md: such a policy used to sit in WaitingForBinding, neither Ready nor Stalled).
    if (!binding || binding.missing)
      return {
        ok: false,
        wait: false,
        reason: "BindingNotFound",
        message: `LogicAppIdentityBinding ${bname} does not exist in this namespace; create it or fix spec.bindingRef.name`,
      };
    if (binding.stalled)
      return {
        ok: false,
        wait: false,
        reason: "BindingStalled",
        message: `LogicAppIdentityBinding ${bname} is Stalled (${binding.stalled.reason}): ${binding.stalled.message}`,
      };
    if (!binding.ready) {
      return {
        ok: false,
        wait: true,
        reason: "WaitingForBinding",
        message: `LogicAppIdentityBinding ${bname} is not Ready`,
      };
    }
    if (!binding.principalId) {
      return {
        ok: false,
        wait: true,
        reason: "WaitingForBinding",
        message: `LogicAppIdentityBinding ${bname} reports no principal yet`,
      };
    }
  }
  const tenantId = spec.tenantId ?? binding?.tenantId;
  if (!tenantId) {
    return {
      ok: false,
      wait: false,
      reason: "InvalidSpec",
      message: "no tenantId in the spec or the binding",
    };
  }
  const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : (binding?.audiences ?? []);
  const roles =
    spec.requiredRoles && spec.requiredRoles.length > 0 ? spec.requiredRoles : (binding?.roles ?? []);
  const input: ValidateJwtInput = {
    tenantId,
    audiences,
    issuers:
      spec.issuers ??
      (binding?.tokenVersions?.length ? binding.tokenVersions.map((v) => issuerFor(tenantId, v)) : undefined),
    openIdConfigUrl: spec.openIdConfigUrl,
    requiredRoles: roles,
    callerPrincipalId: spec.bindingRef ? binding?.principalId : undefined,
    failedValidation: spec.failedValidation,
  };
  const problems = checkRuleInput(input);
  if (problems.length > 0) {
    return { ok: false, wait: false, reason: "InvalidSpec", message: problems.join("; ") };
  }
  return { ok: true, input };
}

function conditions(
  gen: number | undefined,
  ready: [ConditionUpdate["status"], string, string],
  reconciling: [ConditionUpdate["status"], string, string],
  stalled: [ConditionUpdate["status"], string, string],
  applied: [ConditionUpdate["status"], string, string],
): ConditionUpdate[] {
  const c = (
    type: ConditionUpdate["type"],
    [status, reason, message]: [ConditionUpdate["status"], string, string],
  ) =>
    ({
      type,
      status,
      reason,
      message,
      ...(gen !== undefined ? { observedGeneration: gen } : {}),
    }) as ConditionUpdate;
  return [
    c("Ready", ready),
    c("Reconciling", reconciling),
    c("Stalled", stalled),
    c("PolicyApplied", applied),
  ];
}

/** Plain decision with no write: the shape every non-writing outcome shares. */
function outcome(status: JwtPolicyStatus, conds: ConditionUpdate[], extra: Partial<Decision> = {}): Decision {
  return { actions: [], finalize: false, stalled: false, findings: [], status, conditions: conds, ...extra };
}

function stalled(
  desired: Desired,
  status: JwtPolicyStatus,
  reason: string,
  message: string,
  onPolicy = false,
): Decision {
  return outcome(
    status,
    conditions(
      desired.generation,
      ["False", reason, message],
      ["False", reason, "needs a person: " + message],
      ["True", reason, message],
      ["Unknown", reason, message],
    ),
    { stalled: true, ...(onPolicy ? { stalledOnPolicy: true } : {}) },
  );
}

/** Observed fragment value, with the `<fragment>` wrapper APIM omits in some responses put back. */
function fragmentMatches(observed: string | undefined, desiredXml: string): boolean {
  if (observed === undefined) return false;
  const wrapped = observed.trimStart().startsWith("<fragment")
    ? observed
    : `<fragment>${observed}</fragment>`;
  return canonicalEquals(wrapped, desiredXml);
}

export function decide(desired: Desired, observed: Observed, options: DecideOptions): Decision {
  return desired.deleting ? decideDelete(desired, observed) : decideApply(desired, observed, options);
}

function decideApply(desired: Desired, observed: Observed, options: DecideOptions): Decision {
  const { spec, fragmentId, generation: gen } = desired;
  const label = targetLabel(spec.target);
  const previous = observed.previous ?? {};
  const status: JwtPolicyStatus = {
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    target: label,
    ...((spec.mode ?? "Fragment") === "Fragment" ? { fragmentId } : {}),
    ...(previous.appliedFingerprint ? { appliedFingerprint: previous.appliedFingerprint } : {}),
    ...(previous.callerPrincipalId ? { callerPrincipalId: previous.callerPrincipalId } : {}),
  };

  if (observed.tenancy)
    return stalled(desired, status, observed.tenancy.reason, observed.tenancy.message, true);
  const resolved = ruleInput(desired);
  if (!resolved.ok) {
    if (!resolved.wait) return stalled(desired, status, resolved.reason, resolved.message);
    const m: [string, string] = [resolved.reason, resolved.message];
    return outcome(
      status,
      conditions(gen, ["False", ...m], ["True", ...m], ["False", ...m], ["Unknown", ...m]),
      {
        requeueAfterMs: options.waitRecheckMs ?? 60_000,
      },
    );
  }
  const input = resolved.input;
  if (!observed.target)
    throw new Error("decide: the target was not observed although the rule can be rendered");
  if (!observed.target.exists) {
    return stalled(desired, status, "TargetNotFound", `${observed.target.missing} does not exist`);
  }
  if (observed.policy) {
    const err = checkWellFormed(observed.policy.xml);
    if (err?.code === "PolicyTooLarge") {
      return stalled(
        desired,
        status,
        POLICY_TOO_LARGE,
        `the ${label} policy: ${formatXmlError(err)}; it is left untouched`,
      );
    }
    if (err) {
      const why = `the ${label} policy is not well-formed (${formatXmlError(err)}); it is left untouched`;
      return stalled(desired, status, "TargetPolicyMalformed", why);
    }
  }
  const fragmentMode = (spec.mode ?? "Fragment") === "Fragment";
  const current = observed.fragment;
  const ours = current !== undefined && ownsFragment(desired, current);
  if (fragmentMode && current && !ours) {
    // Never PUT over it, never DELETE it, never move its include: someone else's rule may be what protects the API.
    return stalled(
      desired,
      status,
      FRAGMENT_OWNED_BY_OTHER,
      `fragment ${fragmentId} already exists and belongs to ${ownerText(current)}; nothing was written`,
    );
  }
  const predecessors = adoptable(desired, observed);
  const writes = desiredWrites(desired, observed, input, predecessors);
  if ("tooLarge" in writes)
    return stalled(desired, status, POLICY_TOO_LARGE, `the ${label} policy: ${writes.tooLarge}`);
  if ("unsupported" in writes) {
    return stalled(desired, status, "TargetPolicyUnsupported", `the ${label} policy: ${writes.unsupported}`);
  }
  const kept = [...(fragmentMode || ours ? [fragmentId] : []), ...predecessors.map((p) => p.fragmentId)];
  const record = recordWrite(
    observed,
    nextRecord(desired, observed, kept, recordTarget(spec.apimServiceId, spec.target)),
  );
  const fp = options.hash(renderValidateJwt(input));
  if (writes.actions.length === 0) {
    const msg = `validate-jwt is in place at ${label}`;
    return outcome(
      {
        ...status,
        appliedFingerprint: fp,
        ...(input.callerPrincipalId ? { callerPrincipalId: input.callerPrincipalId } : {}),
      },
      conditions(
        gen,
        ["True", "Applied", msg],
        ["False", "Applied", msg],
        ["False", "Applied", msg],
        ["True", "Applied", msg],
      ),
      { actions: record },
    );
  }
  const why = writeReason(label, previous, input, fp);
  return {
    ...outcome(
      status,
      conditions(
        gen,
        ["False", why.reason, why.message],
        ["True", why.reason, why.message],
        ["False", why.reason, why.message],
        ["False", why.reason, why.message],
      ),
    ),
    // Write-ahead: the record names the fragment and the target before Azure holds them.
    actions: [...record, ...writes.actions],
    onWrite: why.onWrite,
  };
}

/**
 * The writes that make the target carry our rule (fragment + include, or inline), or why the document cannot. An
 * adopted predecessor's include is replaced by ours in place, in the same document PUT that follows the creation of
 * our fragment, and the predecessor is deleted only after that PUT: the API never goes without the rule.
 */
function desiredWrites(
  desired: Desired,
  observed: Observed,
  input: ValidateJwtInput,
  predecessors: readonly ObservedFragment[],
): { actions: Action[] } | { unsupported: string } | { tooLarge: string } {
  const { spec, namespace, name, fragmentId, ownerMarker } = desired;
  const markerId = markerIdOf(namespace, name);
  const base = observed.policy?.xml ?? skeletonFor(scopeOf(spec.target));
  const current = observed.fragment;
  const ours = current !== undefined && ownsFragment(desired, current);
  const actions: Action[] = [];
  let doc: string;
  try {
    if ((spec.mode ?? "Fragment") === "Fragment") {
      const xml = renderFragment(input);
      if (!fragmentMatches(current?.xml, xml)) {
        actions.push({
          type: "putFragment",
          fragmentId,
          xml,
          description: ownerMarker,
          // Absent: create-only, so a fragment someone creates meanwhile is never overwritten blindly.
          ...(current ? { ifMatch: current.etag } : {}),
        });
      }
      doc = removeInlineRule(base, markerId);
      for (const p of predecessors) doc = replaceIncludeFragment(doc, p.fragmentId, fragmentId);
      doc = insertIncludeFragment(doc, fragmentId);
    } else {
      doc = current && !ours ? base : removeIncludeFragment(base, fragmentId);
      for (const p of predecessors) doc = removeIncludeFragment(doc, p.fragmentId);
      doc = upsertInlineRule(doc, markerId, renderValidateJwt(input));
    }
  } catch (e) {
    if (e instanceof PolicyXmlError) return { unsupported: e.message };
    throw e;
  }
  if (!observed.policy || doc !== observed.policy.xml) {
    if (doc.length > MAX_POLICY_CHARS) {
      return {
        tooLarge: `with the rule it would be ${doc.length} characters; APIM stores at most ${MAX_POLICY_CHARS}`,
      };
    }
    actions.push({
      type: "putPolicy",
      xml: doc,
      ...(observed.policy ? { ifMatch: observed.policy.etag } : {}),
    });
  }
  if (spec.mode === "Inline" && current && ours)
    actions.push({ type: "deleteFragment", fragmentId, ifMatch: current.etag });
  for (const p of predecessors)
    actions.push({ type: "deleteFragment", fragmentId: p.fragmentId, ifMatch: p.etag, migration: true });
  return { actions };
}

/** Why the rule is being written: first install, a drift repair (same rule, changed outside), or an update. */
function writeReason(
  label: string,
  previous: JwtPolicyStatus,
  input: ValidateJwtInput,
  fp: string,
): { reason: string; message: string; onWrite: Report } {
  const pinned = input.callerPrincipalId ? ` (caller pinned to ${input.callerPrincipalId})` : "";
  if (!previous.appliedFingerprint) {
    return {
      reason: "Applying",
      message: `installing validate-jwt at ${label}`,
      onWrite: {
        event: { type: "Normal", reason: "Applied", note: `validate-jwt installed at ${label}${pinned}` },
      },
    };
  }
  if (previous.appliedFingerprint === fp) {
    return {
      reason: "DriftRepaired",
      message: `the rule at ${label} was changed or removed outside the operator; restoring it`,
      onWrite: {
        event: {
          type: "Normal",
          reason: "DriftRepaired",
          note: `the rule at ${label} was changed or removed outside the operator and has been restored`,
        },
        metric: { name: "driftRepaired", facet: "apim" },
      },
    };
  }
  const principalMoved =
    input.callerPrincipalId &&
    previous.callerPrincipalId &&
    previous.callerPrincipalId !== input.callerPrincipalId;
  return {
    reason: "Updating",
    message: principalMoved
      ? `the binding's principal changed to ${input.callerPrincipalId}; updating the rule at ${label}`
      : `the desired rule changed; updating ${label}`,
    onWrite: {
      event: { type: "Normal", reason: "Applied", note: `validate-jwt updated at ${label}${pinned}` },
    },
  };
}

function decideDelete(desired: Desired, observed: Observed): Decision {
  const { spec, namespace, name, fragmentId, generation: gen } = desired;
  const label = targetLabel(spec.target);
  const status: JwtPolicyStatus = { ...(observed.previous ?? {}), target: label };
  const deletingConditions = (reason: string, message: string): ConditionUpdate[] =>
    conditions(
      gen,
      ["False", reason, message],
      ["True", reason, message],
      ["False", reason, message],
      ["Unknown", reason, message],
    );
  // The record goes last, also when Azure keeps the rule: a later object of this name must not inherit it (ADR 0015).
  const forget: Action[] = observed.record
    ? [{ type: "deleteRecord", resourceVersion: observed.record.resourceVersion }]
    : [];
  if ((spec.deletionPolicy ?? "Delete") === "Orphan") {
    const message = `deletionPolicy Orphan: the rule stays at ${label}`;
    return outcome(status, deletingConditions("Orphaned", message), {
      actions: forget,
      finalize: forget.length === 0,
      findings: [{ event: { type: "Normal", reason: "Orphaned", note: message } }],
    });
  }
  const current = observed.fragment;
  const foreign = current !== undefined && !ownsFragment(desired, current);
  const predecessors = adoptable(desired, observed);
  const findings: Report[] = foreign
    ? [
        {
          event: {
            type: "Warning",
            reason: FRAGMENT_OWNED_BY_OTHER,
            note: `fragment ${fragmentId} belongs to ${ownerText(current)}; it and its include are left in place`,
          },
        },
      ]
    : [];
  const actions: Action[] = [];
  if (observed.target?.exists && observed.policy) {
    const err = checkWellFormed(observed.policy.xml);
    if (err) {
      return stalled(
        desired,
        status,
        err.code === "PolicyTooLarge" ? POLICY_TOO_LARGE : "TargetPolicyMalformed",
        `cannot remove the rule: the ${label} policy ${err.code === "PolicyTooLarge" ? "is too large" : "is not well-formed"} (${formatXmlError(err)}); fix it or set ` +
          "deletionPolicy: Orphan",
      );
    }
    const markerId = markerIdOf(namespace, name);
    // Only includes of fragments that are ours: our ID (unless someone else's fragment sits there), adopted
    // predecessors, and the IDs the operator's record lists.
    const ids = [
      ...(foreign ? [] : [fragmentId]),
      ...predecessors.map((p) => p.fragmentId),
      ...(desired.ownIncludes ?? []),
    ];
    let doc = observed.policy.xml;
    for (const id of new Set(ids)) doc = removeIncludeFragment(doc, id);
    doc = removeInlineRule(doc, markerId);
    if (doc !== observed.policy.xml) {
      const scope = scopeOf(spec.target);
      // A non-global document that is exactly the skeleton says nothing a missing one would not: it is the one the
      // operator created, so give the target back its original state (no policy).
      if (scope !== "global" && doc === skeletonFor(scope)) {
        actions.push({ type: "deletePolicy", ifMatch: observed.policy.etag });
      } else actions.push({ type: "putPolicy", xml: doc, ifMatch: observed.policy.etag });
    }
  }
  // After the include is gone: APIM refuses to delete a fragment that is still referenced.
  if (current && !foreign) actions.push({ type: "deleteFragment", fragmentId, ifMatch: current.etag });
  for (const p of predecessors)
    actions.push({ type: "deleteFragment", fragmentId: p.fragmentId, ifMatch: p.etag, migration: true });
  const azureDone = actions.length === 0;
  const done = azureDone && forget.length === 0;
  return {
    ...outcome(
      status,
      deletingConditions(
        azureDone ? "Deleted" : "Deleting",
        azureDone ? `the rule is gone from ${label}` : `removing the rule from ${label}`,
      ),
      { finalize: done, findings },
    ),
    actions: azureDone ? forget : actions,
    ...(azureDone
      ? {}
      : {
          onWrite: {
            event: { type: "Normal", reason: "Removed", note: `the rule was removed from ${label}` },
          },
        }),
  };
}
