import type { Api } from "./api-kinds.ts";

/** What an injected fault does to a matching request. */
export type FaultAction =
  /** Delay, then answer normally. */
  | { kind: "latency"; ms: number }
  /** Answer with this status in the API's error shape; 429/503 may carry Retry-After (seconds) or retry-after-ms. */
  | {
      kind: "status";
      status: number;
      retryAfterSeconds?: number;
      retryAfterMs?: number;
      code?: string;
      message?: string;
    }
  /** Destroy the socket after reading the request (client sees ECONNRESET). */
  | { kind: "reset" }
  /** Never answer (client sees its own timeout); the socket is released when the emulator stops. */
  | { kind: "timeout" }
  /** Role assignment create → 400 PrincipalNotFound; Graph appRoleAssignedTo create → 404, as under replication delay. */
  | { kind: "principalNotFound" }
  /**
   * Answer normally, then alter the JSON body: `drop` deletes these property names wherever they occur, `add` merges
   * these properties into the top-level object and into every item of a `value` list. ARM's RPC tells clients to
   * ignore properties they do not know (https://github.com/cloud-and-ai-microsoft/resource-provider-contract,
   * "Resource API reference": unknown properties are additive), and a response missing a property the client
   * needs must give a clear error, not a crash: the reliability matrix (docs/reliability.md) checks both.
   */
  | { kind: "mangle"; drop?: string[]; add?: Record<string, unknown> };

export interface FaultMatcher {
  /** Operation name (swagger operationId, e.g. "RoleAssignments_Create"); `*` is a wildcard. */
  operation?: string;
  method?: string;
  /** Case-insensitive substring of the request path. */
  pathContains?: string;
  api?: Api;
}

export interface FaultSpec {
  match?: FaultMatcher;
  action: FaultAction;
  /** How many matching requests it affects; omitted = until cleared. */
  count?: number;
  /**
   * Fire on this share (0..1] of matching requests, drawn from a PRNG seeded with `seed`: the same seed and the same
   * sequence of matching requests make the same decisions. Omitted: every matching request.
   */
  probability?: number;
  /** Seed of this fault's PRNG (an unsigned 32-bit integer); default 1. */
  seed?: number;
}

export interface Fault extends FaultSpec {
  id: string;
  remaining: number | null;
  hits: number;
  /** Matching requests seen, fired or not (hits / considered is the realised rate). */
  considered: number;
}

/** mulberry32: small, seedable, good enough to spread faults; not for anything secret. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Applies a `mangle` action to a JSON body (a copy; the emulator's state is never touched). */
export function mangleBody(
  body: unknown,
  action: { drop?: string[]; add?: Record<string, unknown> },
): unknown {
  const drop = new Set(action.drop ?? []);
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== "object") return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!drop.has(k)) out[k] = strip(x);
    return out;
  };
  const stripped = strip(body);
  if (!action.add || stripped === null || typeof stripped !== "object" || Array.isArray(stripped))
    return stripped;
  const top: Record<string, unknown> = { ...(stripped as Record<string, unknown>), ...action.add };
  if (Array.isArray(top.value))
    top.value = top.value.map((item: unknown) =>
      item !== null && typeof item === "object" && !Array.isArray(item) ? { ...item, ...action.add } : item,
    );
  return top;
}

export interface RequestFacts {
  api: Api;
  operation: string;
  method: string;
  path: string;
}

const globToRegExp = (glob: string): RegExp =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i");

function matches(m: FaultMatcher | undefined, r: RequestFacts): boolean {
  if (!m) return true;
  if (m.api && m.api !== r.api) return false;
  if (m.method && m.method.toUpperCase() !== r.method) return false;
  if (m.operation && !globToRegExp(m.operation).test(r.operation)) return false;
  if (m.pathContains && !r.path.toLowerCase().includes(m.pathContains.toLowerCase())) return false;
  return true;
}

export class FaultRegistry {
  private faults: Fault[] = [];
  private readonly random = new Map<string, () => number>();
  private seq = 0;

  add(spec: FaultSpec): Fault {
    if (spec.probability !== undefined && !(spec.probability > 0 && spec.probability <= 1))
      throw new RangeError(`probability must be in (0, 1], got ${spec.probability}`);
    const fault: Fault = {
      ...spec,
      id: `fault-${++this.seq}`,
      remaining: spec.count ?? null,
      hits: 0,
      considered: 0,
    };
    this.faults.push(fault);
    if (spec.probability !== undefined) this.random.set(fault.id, seededRandom(spec.seed ?? 1));
    return fault;
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    this.random.delete(id);
    return this.faults.length !== before;
  }

  clear(): void {
    this.faults = [];
    this.random.clear();
  }

  /** Consumes and returns every fault that applies to this request, in the order they were added. */
  take(r: RequestFacts): Fault[] {
    const hit = this.faults.filter((f) => {
      if (!((f.remaining === null || f.remaining > 0) && matches(f.match, r))) return false;
      f.considered++;
      const draw = this.random.get(f.id);
      // Drawn for every matching request, fired or not, so a seed replays the same decisions.
      return !draw || draw() < f.probability!;
    });
    for (const f of hit) {
      f.hits++;
      if (f.remaining !== null) f.remaining--;
    }
    this.faults = this.faults.filter((f) => f.remaining === null || f.remaining > 0);
    return hit;
  }
}
