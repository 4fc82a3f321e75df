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
  | { kind: "principalNotFound" };

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
}

export interface Fault extends FaultSpec {
  id: string;
  remaining: number | null;
  hits: number;
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
  private seq = 0;

  add(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: `fault-${++this.seq}`, remaining: spec.count ?? null, hits: 0 };
    this.faults.push(fault);
    return fault;
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== before;
  }

  clear(): void {
    this.faults = [];
  }

  /** Consumes and returns every fault that applies to this request, in the order they were added. */
  take(r: RequestFacts): Fault[] {
    const hit = this.faults.filter((f) => (f.remaining === null || f.remaining > 0) && matches(f.match, r));
    for (const f of hit) {
      f.hits++;
      if (f.remaining !== null) f.remaining--;
    }
    this.faults = this.faults.filter((f) => f.remaining === null || f.remaining > 0);
    return hit;
  }
}
