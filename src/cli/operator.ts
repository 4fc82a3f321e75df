/**
 * Composition of the operator: the runtime manager, the Azure ports and one controller per kind.
 * Used by `main.ts run`, by the demo and by integration tests (which pass the emulator's endpoints).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { createAzurePorts, type AzurePortsOptions } from "../azure/clients.ts";
import { AzureBudget } from "../azure/inventory/budget.ts";
import { bindingDependsOn, changeRefs } from "../azure/inventory/depends-on.ts";
import { Inventory } from "../azure/inventory/inventory.ts";
import type { AzurePorts } from "../azure/ports.ts";
import { kubeClaims } from "../controllers/binding/ownership.ts";
import { BINDING_RESOURCE, BindingReconciler } from "../controllers/binding/reconciler.ts";
import { createOwnershipStores } from "../controllers/shared/ownership-store.ts";
import {
  JWT_POLICY_RESOURCE,
  JwtPolicyReconciler,
  policiesReferencing,
} from "../controllers/jwt-policy/reconciler.ts";
import { ACCESS_POLICY_RESOURCE, NAMESPACE_RESOURCE } from "../controllers/resources.ts";
import { AccessPolicyReconciler } from "../controllers/access-policy/kind.ts";
import { TenancyFence } from "../controllers/tenancy/fence.ts";
import { objectsInNamespace, objectsSelectedBy } from "../controllers/tenancy/watches.ts";
import type { AzureAccessPolicy } from "../api/v1alpha1/access-policy.ts";
import { specOrMetadataChanged } from "../runtime/controller.ts";
import type { RuntimeConfig } from "../runtime/config.ts";
import type { Logger } from "../runtime/logger.ts";
import { KeyIndex } from "../runtime/key-index.ts";
import { Manager, type ManagerOptions, type WatchRegistration } from "../runtime/manager.ts";
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../api/v1alpha1/index.ts";

export interface OperatorOptions {
  config: RuntimeConfig;
  azure: Omit<AzurePortsOptions, "onCall">;
  kubeConfig?: KubeConfig;
  logger?: Logger;
  /** Replaces the ports built from `azure` (tests). */
  ports?: AzurePorts;
  replicationPollMs?: number;
  /** Where ownership records live (ConfigMaps); default config.recordsNamespace (`--records-namespace`). */
  recordsNamespace?: string;
  manager?: Partial<Pick<ManagerOptions, "informer" | "backoff" | "onLostLeadership">>;
}

/** Work-queue backoff cap for the operator's controllers (docs/reliability.md, finding 3). */
export const OPERATOR_MAX_BACKOFF_MS = 60_000;

export function createOperator(options: OperatorOptions): Manager {
  const manager = new Manager({
    config: options.config,
    ...(options.kubeConfig ? { kubeConfig: options.kubeConfig } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...options.manager,
    // Almost every retryable failure here is a transient Azure answer. With the runtime's 1000 s cap, an object
    // that met a burst of them (the reliability matrix at 30 % faults: ~14 failed passes in a row) waited up to
    // 16 min after Azure recovered; 60 s bounds that wait and is still far from a hot loop.
    backoff: { maxDelayMs: OPERATOR_MAX_BACKOFF_MS, ...options.manager?.backoff },
  });
  const metrics = manager.services.metrics;
  const recordsNamespace = options.recordsNamespace ?? options.config.recordsNamespace;
  const log = manager.services.logger.child({ component: "inventory" });
  const direct = options.ports
    ? undefined
    : createAzurePorts({
        ...options.azure,
        // One budget for every client: all workers draw from the same per-subscription buckets.
        budget: options.azure.budget ?? new AzureBudget(),
        onCall: (c) =>
          metrics.externalCall({
            service: c.service,
            operation: c.operation,
            statusCode: c.statusCode ?? 0,
            durationMs: c.durationMs,
          }),
      });
  const inventory =
    direct && options.config.inventory && options.config.inventoryIntervalMs > 0
      ? new Inventory(direct, direct.listings, {
          intervalMs: options.config.inventoryIntervalMs,
          onError: (err, source) =>
            log.warn({ err, source }, "inventory refresh failed; serving the last list"),
        })
      : undefined;
  const ports = options.ports ?? inventory?.ports() ?? direct!;
  // Tenancy: policies and namespace labels from caches; a change to either reconciles the objects it concerns.
  const policies = manager.informerFor<AzureAccessPolicy>(ACCESS_POLICY_RESOURCE);
  const namespaces = manager.informerFor(NAMESPACE_RESOURCE);
  const tenancy = new TenancyFence({ mode: options.config.tenancy, policies, namespaces });
  const tenancyWatches: WatchRegistration[] = [
    {
      resource: ACCESS_POLICY_RESOURCE,
      map: (p, primary) => objectsSelectedBy(p as Readonly<AzureAccessPolicy>, primary, namespaces),
    },
    { resource: NAMESPACE_RESOURCE, map: objectsInNamespace },
  ];
  const bindings = manager.addController<LogicAppIdentityBinding>({
    name: "LogicAppIdentityBinding",
    resource: BINDING_RESOURCE,
    // Our own status writes would otherwise wake us for a pass that only reads; drift is found by resync.
    predicate: specOrMetadataChanged,
    watches: tenancyWatches,
    reconciler: (s) => {
      const stores = createOwnershipStores(s.client, recordsNamespace);
      return new BindingReconciler({
        ports,
        ownership: { records: stores.bindings, claims: kubeClaims(stores, s.client) },
        tenancy,
        guard: tenancy.bindingGuard,
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
        ...(options.replicationPollMs !== undefined ? { replicationPollMs: options.replicationPollMs } : {}),
      });
    },
    // The inventory finds drift within one interval and enqueues what depends on it; resync is a safety net.
    ...(inventory ? { resyncIntervalMs: options.config.inventoryResyncIntervalMs } : {}),
  });
  if (inventory) {
    const index = new KeyIndex(
      manager.informerFor<LogicAppIdentityBinding>(BINDING_RESOURCE),
      bindingDependsOn,
    );
    inventory.subscribe((changes) => {
      const keys = index.keysFor(changes.flatMap(changeRefs));
      if (keys.length > 0)
        log.debug({ changes: changes.length, keys: keys.length }, "Azure changed: enqueue");
      for (const k of keys) bindings.enqueue(k);
    });
    manager.addRunnable(inventory);
  }
  manager.addController<ApimJwtPolicy>({
    name: "ApimJwtPolicy",
    resource: JWT_POLICY_RESOURCE,
    // Our own status writes would otherwise wake us for a pass that only reads; drift is found by resync.
    predicate: specOrMetadataChanged,
    watches: [
      {
        resource: BINDING_RESOURCE,
        map: (binding, policies) =>
          policiesReferencing(
            binding as Readonly<LogicAppIdentityBinding>,
            policies as unknown as { list(ns?: string): readonly Readonly<ApimJwtPolicy>[] },
          ),
      },
      ...tenancyWatches,
    ],
    reconciler: (s) =>
      new JwtPolicyReconciler({
        ports: { apim: ports.apim, records: createOwnershipStores(s.client, recordsNamespace).jwtPolicies },
        tenancy,
        guard: tenancy.jwtPolicyGuard,
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
      }),
  });
  // The policies' own status (selected namespaces, a Warning when none): re-evaluated when a namespace changes.
  manager.addController<AzureAccessPolicy>({
    name: "AzureAccessPolicy",
    resource: ACCESS_POLICY_RESOURCE,
    predicate: specOrMetadataChanged,
    watches: [
      {
        resource: NAMESPACE_RESOURCE,
        map: (_ns, policies) => policies.list().map((p) => ({ name: p.metadata.name })),
      },
    ],
    reconciler: (s) =>
      new AccessPolicyReconciler({
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
      }),
  });
  return manager;
}
