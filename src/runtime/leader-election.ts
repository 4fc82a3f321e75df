/**
 * Leader election with a coordination.k8s.io/v1 Lease, after client-go's leaderelection package:
 * acquire when the Lease is free or its holder has not renewed for leaseDuration (measured on our own clock from
 * when we last saw the record change, so clock skew between replicas does not matter); renew every retryPeriod;
 * stop leading when renewals fail for renewDeadline or someone else holds the Lease; release on shutdown by
 * clearing holderIdentity so a standby takes over at its next retry instead of after a full lease duration.
 *
 * Two leaders can overlap briefly (a paused leader that has not noticed yet); external writes must be idempotent.
 */
import { realClock, type Clock } from "./clock.ts";
import { isConflict, isNotFound, type KubeClient } from "./client.ts";
import { silentLogger, type Logger } from "./logger.ts";
import type { ResourceType } from "./resource.ts";

export const LEASE: ResourceType = {
  group: "coordination.k8s.io",
  version: "v1",
  plural: "leases",
  kind: "Lease",
  namespaced: true,
};

export interface LeaseObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export type StoppedReason = "lost" | "released";

export interface LeaderElectionOptions {
  client: KubeClient;
  name: string;
  namespace: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Called when this instance becomes leader; the signal aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void;
  /** Called when leadership ends: lost (renewals failed, someone else holds it) or released (stop()). */
  onStoppedLeading: (reason: StoppedReason) => void;
  onNewLeader?: (identity: string) => void;
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectionOptions, "onNewLeader" | "clock" | "logger">> &
    Pick<LeaderElectionOptions, "onNewLeader">;
  private readonly clock: Clock;
  private readonly log: Logger;
  private leader = false;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private stopSignal = new AbortController();
  private leadership: AbortController | undefined;
  private lastRenewAt = 0;
  private observed: { key: string; at: number } | undefined;
  private lastSeenLeader: string | undefined;

  constructor(options: LeaderElectionOptions) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? silentLogger()).child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  isLeader(): boolean {
    return this.leader;
  }

  get identity(): string {
    return this.o.identity;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopSignal = new AbortController();
    this.loopDone = this.loop();
  }

  /** Stops campaigning; if leading, releases the Lease and calls onStoppedLeading("released"). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopSignal.abort();
    await this.loopDone;
    if (this.leader) {
      await this.release().catch((err: unknown) => this.log.warn({ err }, "could not release the Lease"));
      this.stepDown("released");
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const now = this.clock.now();
      let result: "held" | "other" | "failed";
      try {
        result = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err }, "Lease acquire/renew failed");
        result = "failed";
      }
      if (!this.running) break;
      if (result === "held") {
        this.lastRenewAt = now;
        if (!this.leader) {
          this.leader = true;
          this.leadership = new AbortController();
          this.log.info("became leader");
          this.o.onStartedLeading(this.leadership.signal);
        }
      } else if (this.leader) {
        const sinceRenew = this.clock.now() - this.lastRenewAt;
        if (result === "other" || sinceRenew >= this.o.renewDeadlineMs) {
          this.log.warn({ sinceRenewMs: sinceRenew, result }, "lost leadership");
          this.stepDown("lost");
        }
      }
      const jitter = this.leader ? 1 : 1 + Math.random() * 0.2;
      try {
        await this.clock.sleep(this.o.retryPeriodMs * jitter, this.stopSignal.signal);
      } catch {
        break;
      }
    }
  }

  private stepDown(reason: StoppedReason): void {
    if (!this.leader) return;
    this.leader = false;
    this.leadership?.abort(new Error(`leadership ${reason}`));
    this.o.onStoppedLeading(reason);
  }

  private async tryAcquireOrRenew(): Promise<"held" | "other" | "failed"> {
    const key = { namespace: this.o.namespace, name: this.o.name };
    const now = this.clock.now();
    const durationSeconds = Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000));
    let lease: LeaseObject;
    try {
      lease = (await this.o.client.get(LEASE, key)) as unknown as LeaseObject;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.o.client.create(LEASE, this.o.namespace, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.noteLeader(this.o.identity);
        return "held";
      } catch (e) {
        if (isConflict(e)) return "failed";
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const recordKey = `${holder}|${spec.renewTime ?? ""}|${spec.acquireTime ?? ""}`;
    if (!this.observed || this.observed.key !== recordKey) this.observed = { key: recordKey, at: now };
    if (holder) this.noteLeader(holder);
    const theirDuration = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder && holder !== this.o.identity && now < this.observed.at + theirDuration) return "other";

    const taking = holder !== this.o.identity;
    const next: LeaseObject = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: microTime(now),
        acquireTime: taking ? microTime(now) : (spec.acquireTime ?? microTime(now)),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder ? 1 : 0),
      },
    };
    try {
      await this.o.client.replace(LEASE, key, next);
    } catch (err) {
      if (isConflict(err)) return "failed";
      throw err;
    }
    if (taking) this.noteLeader(this.o.identity);
    return "held";
  }

  private noteLeader(identity: string): void {
    if (identity === this.lastSeenLeader) return;
    this.lastSeenLeader = identity;
    this.o.onNewLeader?.(identity);
  }

  private async release(): Promise<void> {
    const key = { namespace: this.o.namespace, name: this.o.name };
    for (let attempt = 0; attempt < 3; attempt++) {
      const lease = (await this.o.client.get(LEASE, key)) as unknown as LeaseObject;
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      const now = microTime(this.clock.now());
      const spec = { ...lease.spec };
      delete spec.holderIdentity;
      try {
        await this.o.client.replace(LEASE, key, {
          ...lease,
          spec: { ...spec, leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
        });
        this.log.info("released the Lease");
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }
}
