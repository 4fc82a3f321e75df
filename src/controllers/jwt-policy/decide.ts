/**
 * One reconcile pass of an ApimJwtPolicy as a pure function: what was observed in, what to do and what to report
 * out. The reconciler runs the actions in order, stops at the first failure and calls decide again on a fresh
 * observation; a pass whose observation already matches returns no write action (steady state reads only).
 */
import type { JwtPolicySpec, JwtPolicyStatus, JwtPolicyTarget } from "../../api/v1alpha1/jwt-policy.ts";
import type { PolicyDocument } from "../../azure/ports.ts";
import type { Decision as PassDecision, Report } from "../shared/rounds.ts";
import type { Refusal } from "../tenancy/requests.ts";
import {
  canonicalEquals,
  checkWellFormed,
  formatXmlError,
  insertIncludeFragment,
  PolicyXmlError,
  removeIncludeFragment,
  removeInlineRule,
  skeletonFor,
  upsertInlineRule,
  type PolicyScope,
} from "./xml.ts";
import { checkRuleInput, renderFragment, renderValidateJwt, type ValidateJwtInput } from "./render.ts";

/** What the referenced LogicAppIdentityBinding currently says (resolved by the reconciler). */
export interface BindingFacts {
  name: string;
  /** False also when the binding does not exist. */
  ready: boolean;
  principalId?: string;
  tenantId?: string;
  /** App ID URIs / client IDs of the APIs the binding holds app roles on. */
  audiences?: string[];
  /** App role values the binding holds. */
  roles?: string[];
}

export interface Desired {
  namespace: string;
  name: string;
  generation?: number;
  spec: JwtPolicySpec;
  /** From naming.fragmentId(namespace, name). */
  fragmentId: string;
  /** Required when spec.bindingRef is set; undefined means not resolved (treated as not ready). */
  binding?: BindingFacts;
  /** metadata.deletionTimestamp is set. */
  deleting?: boolean;
}

export interface Observed {
  /** Undefined when gather did not read APIM: the rule cannot be rendered yet (waiting for the binding). */
  target?: { exists: true } | { exists: false; missing: string };
  /** The target's policy document (rawxml), absent when the target has none. */
  policy?: PolicyDocument;
  /** Our fragment, absent when it does not exist. */
  fragment?: PolicyDocument;
  /** Status as last written, to tell drift from a first apply or a spec change. */
  previous?: JwtPolicyStatus;
  /** The AzureAccessPolicy matcher refused the service or target: no APIM read, no write, Stalled. */
  tenancy?: Refusal;
}

export type Action =
  | { type: "putFragment"; fragmentId: string; xml: string; description: string }
  | { type: "putPolicy"; xml: string; ifMatch: string }
  | { type: "deletePolicy"; ifMatch: string }
  | { type: "deleteFragment"; fragmentId: string };

export interface ConditionUpdate {
  type: "Ready" | "Reconciling" | "Stalled" | "PolicyApplied";
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

/** Resolves spec + binding into the render input, or says why it cannot be done yet. */
export function ruleInput(
  desired: Desired,
): { ok: true; input: ValidateJwtInput } | { ok: false; wait: boolean; reason: string; message: string } {
  const { spec, binding } = desired;
  if (spec.bindingRef) {
    const bname = spec.bindingRef.name;
    if (!binding || !binding.ready) {
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
    issuers: spec.issuers,
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

function stalled(desired: Desired, status: JwtPolicyStatus, reason: string, message: string): Decision {
  return outcome(
    status,
    conditions(
      desired.generation,
      ["False", reason, message],
      ["False", reason, "needs a person: " + message],
      ["True", reason, message],
      ["Unknown", reason, message],
    ),
    { stalled: true },
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

  if (observed.tenancy) return stalled(desired, status, observed.tenancy.reason, observed.tenancy.message);
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
    if (err) {
      const why = `the ${label} policy is not well-formed (${formatXmlError(err)}); it is left untouched`;
      return stalled(desired, status, "TargetPolicyMalformed", why);
    }
  }
  const writes = desiredWrites(desired, observed, input);
  if ("unsupported" in writes) {
    return stalled(desired, status, "TargetPolicyUnsupported", `the ${label} policy: ${writes.unsupported}`);
  }
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
    actions: writes.actions,
    onWrite: why.onWrite,
  };
}

/** The writes that make the target carry our rule (fragment + include, or inline), or why the document cannot. */
function desiredWrites(
  desired: Desired,
  observed: Observed,
  input: ValidateJwtInput,
): { actions: Action[] } | { unsupported: string } {
  const { spec, namespace, name, fragmentId } = desired;
  const markerId = markerIdOf(namespace, name);
  const base = observed.policy?.xml ?? skeletonFor(scopeOf(spec.target));
  const actions: Action[] = [];
  let doc: string;
  try {
    if ((spec.mode ?? "Fragment") === "Fragment") {
      const xml = renderFragment(input);
      if (!fragmentMatches(observed.fragment?.xml, xml)) {
        actions.push({
          type: "putFragment",
          fragmentId,
          xml,
          description: fragmentDescription(namespace, name),
        });
      }
      doc = insertIncludeFragment(removeInlineRule(base, markerId), fragmentId);
    } else {
      doc = upsertInlineRule(removeIncludeFragment(base, fragmentId), markerId, renderValidateJwt(input));
    }
  } catch (e) {
    if (e instanceof PolicyXmlError) return { unsupported: e.message };
    throw e;
  }
  if (!observed.policy || doc !== observed.policy.xml) {
    actions.push({ type: "putPolicy", xml: doc, ifMatch: observed.policy?.etag ?? "*" });
  }
  if (spec.mode === "Inline" && observed.fragment) actions.push({ type: "deleteFragment", fragmentId });
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
  if ((spec.deletionPolicy ?? "Delete") === "Orphan") {
    const message = `deletionPolicy Orphan: the rule stays at ${label}`;
    return outcome(status, deletingConditions("Orphaned", message), {
      finalize: true,
      findings: [{ event: { type: "Normal", reason: "Orphaned", note: message } }],
    });
  }
  const actions: Action[] = [];
  if (observed.target?.exists && observed.policy) {
    const err = checkWellFormed(observed.policy.xml);
    if (err) {
      return stalled(
        desired,
        status,
        "TargetPolicyMalformed",
        `cannot remove the rule: the ${label} policy is not well-formed (${formatXmlError(err)}); fix it or set ` +
          "deletionPolicy: Orphan",
      );
    }
    const markerId = markerIdOf(namespace, name);
    const doc = removeInlineRule(removeIncludeFragment(observed.policy.xml, fragmentId), markerId);
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
  if (observed.fragment) actions.push({ type: "deleteFragment", fragmentId });
  const done = actions.length === 0;
  return {
    ...outcome(
      status,
      deletingConditions(
        done ? "Deleted" : "Deleting",
        done ? `the rule is gone from ${label}` : `removing the rule from ${label}`,
      ),
      { finalize: done },
    ),
    actions,
    onWrite: { event: { type: "Normal", reason: "Removed", note: `the rule was removed from ${label}` } },
  };
}
