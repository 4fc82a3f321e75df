/**
 * Composition root of the Azure side: builds every SDK client once (per subscription, lazily) with retries off,
 * the configured endpoints, CA and observer, and hands the adapters to reconcilers as AzurePorts. The CLI picks
 * the credential (DefaultAzureCredential or WorkloadIdentityCredential); tests pass the emulator's endpoints and CA.
 */
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { WebSiteManagementClient } from "@azure/arm-appservice";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { LogicManagementClient } from "@azure/arm-logic";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { TokenCredential } from "@azure/identity";
import { ApimChainAdapter } from "./arm/apim-chain.ts";
import { ApimAdapter } from "./arm/apim-policies.ts";
import { ConnectionAdapter } from "./arm/connections.ts";
import { LogicAppAdapter } from "./arm/logic-apps.ts";
import { RoleAssignmentAdapter, RoleDefinitionAdapter } from "./arm/role-assignments.ts";
import {
  DEFAULT_ARM_ENDPOINT,
  DEFAULT_ARM_SCOPE,
  DEFAULT_GRAPH_ENDPOINT,
  DEFAULT_GRAPH_SCOPE,
  DEFAULT_REQUEST_TIMEOUT_MS,
  PerSubscription,
  observerPolicy,
  pipelineOptions,
} from "./arm/transport.ts";
import type { TransportSettings } from "./arm/transport.ts";
import { readRetryPolicy, type ReadRetryOptions } from "./arm/read-retry.ts";
import { UserAssignedIdentityAdapter } from "./arm/user-assigned-identities.ts";
import { WorkflowAdapter } from "./arm/workflows.ts";
import { GraphAdapter } from "./graph/app-role-assignments.ts";
import { ApplicationAdapter } from "./graph/applications.ts";
import type { AzureBudget } from "./inventory/budget.ts";
import type { ApimChainPort, AzureCallObserver, AzureListings, AzurePorts, AzureService } from "./ports.ts";

export interface AzurePortsOptions {
  credential: TokenCredential;
  /** ARM base URL; default https://management.azure.com. */
  armEndpoint?: string;
  /** Token scopes for ARM; default https://management.azure.com/.default (also with a custom endpoint). */
  armScopes?: string[];
  /** Graph base URL without /v1.0; default https://graph.microsoft.com. */
  graphEndpoint?: string;
  /** Token scopes for Graph; default https://graph.microsoft.com/.default. */
  graphScopes?: string[];
  /** PEM CA bundle that replaces the default trust store for these clients (the emulator's CA). */
  tlsCa?: string;
  /** Called once per HTTP request; see AzureCall. */
  onCall?: AzureCallObserver;
  /** Per-request timeout; default 30 s. A timeout surfaces as AzureError kind Transient. */
  requestTimeoutMs?: number;
  /** Poll interval of long-running operations (APIM policy fragments); default 2 s. */
  lroPollIntervalMs?: number;
  /** How long a resolved role definition is reused; default 10 min. */
  roleDefinitionTtlMs?: number;
  /** Client-side request budget shared by every client (./inventory/budget.ts); none when undefined. */
  budget?: AzureBudget;
  /** Bounded retries of idempotent reads inside a pass (ADR 0026); `{ maxRetries: 0 }` turns them off. */
  readRetry?: ReadRetryOptions;
}

interface PipelineOwner {
  pipeline: {
    addPolicy(
      policy: ReturnType<typeof observerPolicy>,
      options?: { afterPhase?: "Retry"; phase?: "Retry" },
    ): void;
  };
}

function observed<T extends PipelineOwner>(client: T, service: AzureService, settings: TransportSettings): T {
  // In the (otherwise disabled) retry phase: before the budget and the observer, so each try is counted and seen.
  client.pipeline.addPolicy(readRetryPolicy(settings.readRetry), { phase: "Retry" });
  // Before the observer: a request waits for its token first, and each try the budget sends is reported.
  if (settings.budget) client.pipeline.addPolicy(settings.budget.policy(service), { afterPhase: "Retry" });
  // After the (disabled) retry phase, so each request actually sent is reported once with its status.
  client.pipeline.addPolicy(observerPolicy(service, settings), { afterPhase: "Retry" });
  return client;
}

export function createAzurePorts(
  options: AzurePortsOptions,
): AzurePorts & { listings: AzureListings; apimChain: ApimChainPort } {
  const settings: TransportSettings = {
    credential: options.credential,
    armEndpoint: (options.armEndpoint ?? DEFAULT_ARM_ENDPOINT).replace(/\/+$/, ""),
    armScopes: options.armScopes ?? [DEFAULT_ARM_SCOPE],
    graphEndpoint: options.graphEndpoint ?? DEFAULT_GRAPH_ENDPOINT,
    graphScopes: options.graphScopes ?? [DEFAULT_GRAPH_SCOPE],
    tlsCa: options.tlsCa,
    onCall: options.onCall,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    lroPollIntervalMs: options.lroPollIntervalMs ?? 2000,
    budget: options.budget,
    readRetry: options.readRetry,
  };
  // The generated autorest clients take `endpoint` (not `$host`, which no operation uses) and `credentialScopes`.
  const autorest = {
    ...pipelineOptions(settings),
    endpoint: settings.armEndpoint,
    credentialScopes: settings.armScopes,
  };
  const cred = settings.credential;

  const logic = new PerSubscription((sub) =>
    observed(new LogicManagementClient(cred, sub, autorest), "arm-logic", settings),
  );
  const web = new PerSubscription((sub) =>
    observed(
      new WebSiteManagementClient(cred, sub, {
        ...pipelineOptions(settings),
        endpoint: settings.armEndpoint,
        // arm-appservice 19 (TypeSpec client) ignores credentialScopes and reads credentials.scopes.
        credentials: { scopes: settings.armScopes },
      }),
      "arm-web",
      settings,
    ),
  );
  const msi = new PerSubscription((sub) =>
    observed(new ManagedServiceIdentityClient(cred, sub, autorest), "arm-msi", settings),
  );
  const authorization = new PerSubscription((sub) =>
    observed(new AuthorizationManagementClient(cred, sub, autorest), "arm-authorization", settings),
  );
  const apim = new PerSubscription((sub) =>
    observed(new ApiManagementClient(cred, sub, autorest), "arm-apim", settings),
  );

  const logicApps = new LogicAppAdapter({ logic, web });
  const roleAssignments = new RoleAssignmentAdapter(authorization);
  const apimAdapter = new ApimAdapter(apim, { lroPollIntervalMs: settings.lroPollIntervalMs });
  return {
    logicApps,
    userAssignedIdentities: new UserAssignedIdentityAdapter(msi),
    roleDefinitions: new RoleDefinitionAdapter(authorization, { ttlMs: options.roleDefinitionTtlMs }),
    roleAssignments,
    graph: new GraphAdapter(settings),
    applications: new ApplicationAdapter(settings),
    apim: apimAdapter,
    apimChain: new ApimChainAdapter(apim),
    workflows: new WorkflowAdapter({ logic, web }),
    connections: new ConnectionAdapter(settings),
    listings: {
      apimPolicyTag: (target) => apimAdapter.getPolicyTag(target),
      apimFragmentTag: (serviceId, fragmentId) => apimAdapter.getFragmentTag(serviceId, fragmentId),
      apimFragments: (serviceId) => apimAdapter.listFragments(serviceId),
      listLogicApps: (sub) => logicApps.listInSubscription(sub),
      listRoleAssignments: (sub) => roleAssignments.listInSubscription(sub),
    },
  };
}
