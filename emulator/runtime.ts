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
   * The most items one Graph page holds whatever `$top` asks: 999 for directory objects ("the default page size is
   * 100 and the highest $top supported is 999", learn.microsoft.com/graph/paging and the directory-object list
   * pages). Smaller makes tests of a caller that sends `$top=999` follow `@odata.nextLink`.
   */
  graphMaxPageSize: number;
  /**
   * Page size of ARM subscription/resource-group/scope lists (Workflows_ListBySubscription, WebApps_List,
   * RoleAssignments_List*): 1000 like ARM's usual page; smaller makes tests follow `nextLink` (azure-wire-facts §2,
   * §5: `{value, nextLink}` pageable responses).
   */
  armPageSize: number;
  /**
   * How long after `POST /applications` the appId is unknown to `POST /servicePrincipals` (400 "does not reference
   * a valid application object"): the directory replicates the new application before its SP can be made.
   */
  applicationReplicationDelayMs: number;
  /** `publisherDomain` of new applications: the tenant's initial domain. */
  graphPublisherDomain: string;
  /** Who the bearer token on Graph requests stands for, and which application permission it holds. */
  graphCaller: GraphCaller;
}

/**
 * `Application.ReadWrite.OwnedBy` may create applications and manage only those it owns;
 * `Application.ReadWrite.All` manages every application (Graph permissions reference).
 */
export type ApplicationPermission = "Application.ReadWrite.OwnedBy" | "Application.ReadWrite.All";

export interface GraphCaller {
  /** Object id of the calling service principal (the operator's identity). */
  objectId: string;
  permission: ApplicationPermission;
}

/** A fixed id so tests can seed applications owned (or not) by the caller without asking for it first. */
export const DEFAULT_GRAPH_CALLER_ID = "0c0a11e2-0000-4000-8000-000000000001";

export const DEFAULT_CONFIG: EmulatorConfig = {
  replicationDelayMs: 0,
  throttling: DEFAULT_THROTTLE,
  graphPageSize: 100,
  graphMaxPageSize: 999,
  armPageSize: 1000,
  applicationReplicationDelayMs: 0,
  graphPublisherDomain: "contoso.onmicrosoft.com",
  // Least privilege, as the operator runs in production: writes need ownership.
  graphCaller: { objectId: DEFAULT_GRAPH_CALLER_ID, permission: "Application.ReadWrite.OwnedBy" },
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
    this.config = {
      ...DEFAULT_CONFIG,
      ...config,
      throttling: { ...DEFAULT_THROTTLE, ...config.throttling },
      graphCaller: { ...DEFAULT_CONFIG.graphCaller, ...config.graphCaller },
    };
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
