/**
 * From what gather-access.ts read to the `AccessVerified` condition and the bounded per-operation verdict list.
 * AccessVerified is a verdict, not a precondition: it never changes Ready (docs/access-check.md, ADR 0020).
 *
 * Per operation: the subscription's product decides which product policy runs, and which product a caller's key
 * belongs to is not known here, so the operation is Blocked when any product's chain refuses the token (that
 * product's subscribers would be refused), Unknown when any is not evaluated, Allowed only when all admit it. When
 * the binding grants roles on several APIs the Logic App may ask a token for any of them: the best verdict over the
 * tokens counts.
 */
import { MAX_ACCESS_VERDICTS, type AccessCheckStatus } from "../../../api/v1alpha1/index.ts";
import { describeFinding, evaluateChain, type ChainDocuments, type Verdict } from "./decide-access.ts";
import { computeToken, type TokenInput } from "./decide-token.ts";

export interface OperationChains {
  /** `apiId/operationId`. */
  operation: string;
  /** One chain per product the API is in, or one without a product. */
  chains: ChainDocuments[];
}

export type AccessObservation =
  | {
      kind: "observed";
      /** Operations the target covers; only `evaluated` were read. */
      operations: number;
      evaluated: OperationChains[];
      tokens: TokenInput[];
    }
  | { kind: "unavailable"; reason: string; message: string };

export const ACCESS_VERIFIED = "AccessVerified";

/** The condition decide.ts's AccessCondition carries (kept here so decide.ts can import this module's types). */
export interface AccessCondition {
  type: typeof ACCESS_VERIFIED;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
}

const RANK: Record<Verdict["verdict"], number> = { blocked: 0, unknown: 1, allowed: 2 };

function worst(vs: Verdict[]): Verdict {
  return vs.reduce((a, b) => (RANK[b.verdict] < RANK[a.verdict] ? b : a));
}

function best(vs: Verdict[]): Verdict {
  return vs.reduce((a, b) => (RANK[b.verdict] > RANK[a.verdict] ? b : a));
}

function messageOf(v: Verdict): string | undefined {
  if (v.verdict === "blocked") return describeFinding(v.by);
  if (v.verdict === "unknown")
    return v.notEvaluated.length > 0 ? `not evaluated: ${describeFinding(v.notEvaluated[0]!)}` : undefined;
  return undefined;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function decideAccess(
  obs: AccessObservation,
  generation: number | undefined,
): { condition: AccessCondition; status?: AccessCheckStatus } {
  const cond = (status: AccessCondition["status"], reason: string, message: string): AccessCondition => ({
    type: ACCESS_VERIFIED,
    status,
    reason,
    message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  });
  if (obs.kind === "unavailable") return { condition: cond("Unknown", obs.reason, obs.message) };
  if (obs.tokens.length === 0 || obs.evaluated.length === 0)
    return {
      condition: cond(
        "Unknown",
        "NothingToEvaluate",
        obs.tokens.length === 0 ? "no token to evaluate" : "the target has no operations",
      ),
    };
  const tokens = obs.tokens.map(computeToken);
  const results = obs.evaluated.map((op) => ({
    operation: op.operation,
    verdict: best(tokens.map((t) => worst(op.chains.map((c) => evaluateChain(c, t))))),
  }));
  const by = (k: Verdict["verdict"]) => results.filter((r) => r.verdict.verdict === k);
  const blocked = by("blocked");
  const unknown = by("unknown");
  const allowed = by("allowed");
  const verdicts = [...blocked, ...unknown, ...allowed].slice(0, MAX_ACCESS_VERDICTS).map((r) => {
    const message = messageOf(r.verdict);
    return {
      operation: r.operation,
      verdict: (r.verdict.verdict === "allowed"
        ? "Allowed"
        : r.verdict.verdict === "blocked"
          ? "Blocked"
          : "Unknown") as AccessCheckStatus["verdicts"][number]["verdict"],
      ...(message ? { message: clip(message, 1024) } : {}),
    };
  });
  const status: AccessCheckStatus = {
    operations: obs.operations,
    evaluated: results.length,
    allowed: allowed.length,
    blocked: blocked.length,
    unknown: unknown.length,
    verdicts,
  };
  const partial =
    obs.operations > results.length ? ` (${results.length} of ${obs.operations} operations evaluated)` : "";
  const n = results.length;
  if (blocked.length > 0) {
    const first = blocked[0]!;
    return {
      condition: cond(
        "False",
        "AccessBlocked",
        clip(
          `${blocked.length} of ${n} operation(s) refuse the identity's token; ${first.operation}: ${messageOf(first.verdict)}`,
          2048,
        ),
      ),
      status,
    };
  }
  if (unknown.length > 0) {
    const first = unknown[0]!;
    return {
      condition: cond(
        "Unknown",
        "AccessNotEvaluated",
        clip(
          `${unknown.length} of ${n} operation(s) not fully evaluated; ${first.operation}: ${messageOf(first.verdict)}`,
          2048,
        ),
      ),
      status,
    };
  }
  return {
    condition: cond(
      "True",
      "AccessAllowed",
      `every evaluated operation admits the identity's token${partial}`,
    ),
    status,
  };
}
