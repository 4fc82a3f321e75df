import type { Api } from "./api-kinds.ts";

export interface LogEntry {
  seq: number;
  time: string;
  api: Api;
  method: string;
  path: string;
  query: string;
  operation: string;
  /** HTTP status sent; 0 when the connection was reset or left hanging. */
  status: number;
  outcome: "response" | "reset" | "timeout";
  durationMs: number;
  subscriptionId?: string;
  /** The bearer token as received (tests use throw-away tokens). */
  bearer?: string;
  faultIds?: string[];
  /** First 16 hex digits of the SHA-256 of the request body, for writes with one: tells a repeated write from a new one. */
  bodyHash?: string;
}

export interface OperationCounts {
  total: number;
  byStatus: Record<string, number>;
}

export interface LogSummary {
  total: number;
  operations: Record<string, OperationCounts>;
}

const MAX_ENTRIES = 20_000;
const TRIM_CHUNK = 1_000;

/** Every ARM/Graph request (control calls excluded), with counts that survive trimming of old entries. */
export class RequestLog {
  private entries: LogEntry[] = [];
  private seq = 0;
  private counts: LogSummary = { total: 0, operations: {} };

  add(e: Omit<LogEntry, "seq">): void {
    this.entries.push({ ...e, seq: ++this.seq });
    // Trimmed in chunks: a splice of one entry from 20,000 on every request cost the 5,000-binding bench 6 % of
    // its CPU. Between MAX_ENTRIES and MAX_ENTRIES + TRIM_CHUNK entries are kept.
    if (this.entries.length > MAX_ENTRIES + TRIM_CHUNK)
      this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    const op = (this.counts.operations[e.operation] ??= { total: 0, byStatus: {} });
    const status = e.outcome === "response" ? String(e.status) : e.outcome;
    op.total++;
    op.byStatus[status] = (op.byStatus[status] ?? 0) + 1;
    this.counts.total++;
  }

  list(filter: { operation?: string; since?: number } = {}): LogEntry[] {
    return this.entries.filter(
      (e) =>
        (!filter.operation || e.operation === filter.operation) && (!filter.since || e.seq > filter.since),
    );
  }

  summary(): LogSummary {
    return structuredClone(this.counts);
  }

  reset(): void {
    this.entries = [];
    this.counts = { total: 0, operations: {} };
  }
}
