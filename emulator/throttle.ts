import type { OperationKind } from "./api-kinds.ts";

export interface BucketConfig {
  capacity: number;
  refillPerSecond: number;
}

/** ARM's 2024 token-bucket limits per subscription (Learn "request-limits-and-throttling"). */
export interface ThrottleConfig {
  /** When false, buckets are still counted for the headers but never reject. */
  enabled: boolean;
  reads: BucketConfig;
  writes: BucketConfig;
  deletes: BucketConfig;
}

export const DEFAULT_THROTTLE: ThrottleConfig = {
  enabled: false,
  reads: { capacity: 250, refillPerSecond: 25 },
  writes: { capacity: 200, refillPerSecond: 10 },
  deletes: { capacity: 200, refillPerSecond: 10 },
};

export interface ThrottleDecision {
  allowed: boolean;
  remaining: number;
  retryAfterSeconds: number;
}

const BUCKET: Record<OperationKind, "reads" | "writes" | "deletes"> = {
  read: "reads",
  write: "writes",
  delete: "deletes",
};

export class Throttle {
  private readonly config: () => ThrottleConfig;
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(config: () => ThrottleConfig) {
    this.config = config;
  }

  reset(): void {
    this.buckets.clear();
  }

  headerName(kind: OperationKind): string {
    return `x-ms-ratelimit-remaining-subscription-${BUCKET[kind]}`;
  }

  take(subscriptionId: string, kind: OperationKind, now: number = Date.now()): ThrottleDecision {
    const cfg = this.config();
    const b = cfg[BUCKET[kind]];
    const id = `${subscriptionId.toLowerCase()}:${kind}`;
    const bucket = this.buckets.get(id) ?? { tokens: b.capacity, at: now };
    bucket.tokens = Math.min(b.capacity, bucket.tokens + ((now - bucket.at) / 1000) * b.refillPerSecond);
    bucket.at = now;
    this.buckets.set(id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens), retryAfterSeconds: 0 };
    }
    const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / b.refillPerSecond));
    return { allowed: !cfg.enabled, remaining: 0, retryAfterSeconds: wait };
  }
}
