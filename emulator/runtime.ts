import { FaultRegistry } from "./faults.ts";
import { RequestLog } from "./request-log.ts";
import { emptyState, type State } from "./state.ts";
import { DEFAULT_THROTTLE, Throttle, type ThrottleConfig } from "./throttle.ts";

export interface EmulatorConfig {
  /** A principal younger than this is invisible to RBAC (when principalType is not sent) and to Graph lookups. */
  replicationDelayMs: number;
  throttling: ThrottleConfig;
  /** Page size of Graph collections when the caller sends no `$top` (Graph's default is 100). */
  graphPageSize: number;
  /**
   * Page size of ARM subscription/resource-group/scope lists (Workflows_ListBySubscription, WebApps_List,
   * RoleAssignments_List*): 1000 like ARM's usual page; smaller makes tests follow `nextLink` (azure-wire-facts §2,
   * §5: `{value, nextLink}` pageable responses).
   */
  armPageSize: number;
}

export const DEFAULT_CONFIG: EmulatorConfig = {
  replicationDelayMs: 0,
  throttling: DEFAULT_THROTTLE,
  graphPageSize: 100,
  armPageSize: 1000,
};

/** Everything a handler can touch: the world, the knobs, and the instruments. */
export class Runtime {
  state: State;
  config: EmulatorConfig;
  readonly faults = new FaultRegistry();
  readonly log = new RequestLog();
  readonly throttle: Throttle;

  constructor(config: Partial<EmulatorConfig> = {}, state: State = emptyState()) {
    this.state = state;
    this.config = { ...DEFAULT_CONFIG, ...config, throttling: { ...DEFAULT_THROTTLE, ...config.throttling } };
    this.throttle = new Throttle(() => this.config.throttling);
  }

  now(): number {
    return Date.now();
  }

  /** Allocates the next APIM entity tag. */
  nextEtag(): number {
    return this.state.etagCounter++;
  }
}
