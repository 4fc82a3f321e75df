/**
 * Composition of the operator: the runtime manager, the Azure ports and one controller per kind.
 * Used by `main.ts run`, by the demo and by integration tests (which pass the emulator's endpoints).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { createAzurePorts, type AzurePortsOptions } from "../azure/clients.ts";
import { AzureBudget } from "../azure/inventory/budget.ts";
import { bindingDependsOn, changeRefs, jwtPolicyDependsOn } from "../azure/inventory/depends-on.ts";
import { Inventory } from "../azure/inventory/inventory.ts";
import type { AzurePorts } from "../azure/ports.ts";
import { kubeClaims } from "../controllers/binding/ownership.ts";
import { BINDING_RESOURCE, BindingReconciler } from "../controllers/binding/reconciler.ts";
import type { LogicAppIndex } from "../controllers/binding/peers.ts";
import { createOwnershipStores } from "../controllers/shared/ownership-store.ts";
import {
  JWT_POLICY_RESOURCE,
  JwtPolicyReconciler,
  policiesReferencing,
} from "../controllers/jwt-policy/reconciler.ts";
import {
  ACCESS_POLICY_RESOURCE,
  API_REGISTRATION_RESOURCE,
  NAMESPACE_RESOURCE,
} from "../controllers/resources.ts";
import { AccessPolicyReconciler } from "../controllers/access-policy/kind.ts";
import { TenancyFence } from "../controllers/tenancy/fence.ts";
import { objectsInNamespace, objectsSelectedBy } from "../controllers/tenancy/watches.ts";
import type { AzureAccessPolicy } from "../api/v1alpha1/access-policy.ts";
import { specOrMetadataChanged, specOrMetadataChangedExceptOwnFinalizer } from "../runtime/controller.ts";
import type { RuntimeConfig } from "../runtime/config.ts";
import type { Logger } from "../runtime/logger.ts";
import { KeyIndex } from "../runtime/key-index.ts";
import { Manager, type ManagerOptions, type WatchRegistration } from "../runtime/manager.ts";
import {
  FINALIZER,
  type ApiRegistration,
  type ApimJwtPolicy,
  type LogicAppIdentityBinding,
} from "../api/v1alpha1/index.ts";
import { ApiRegistrationReconciler, registrationClaims } from "../controllers/api-registration/kind.ts";
import {
  bindingsNamingRegistration,
  bindingsReferencing,
  registrationsReferencedBy,
} from "../controllers/api-registration/watches.ts";
import { bindingReferencedBy } from "../controllers/binding/gateways.ts";

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
  const budget = options.azure.budget ?? new AzureBudget();
  if (!options.ports) metrics.observeBudget(() => budget.snapshot());
  const direct = options.ports
    ? undefined
    : createAzurePorts({
        ...options.azure,
        // One budget for every client: all workers draw from the same per-subscription buckets.
        budget,
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
          onRefresh: (o) => metrics.inventoryRefreshed(o.source, o.durationMs, o.ok),
        })
      : undefined;
  const ports = options.ports ?? inventory?.ports() ?? direct!;
  // The inventory decorates the per-object ports only; the access check's lists go to Azure directly.
  const apimChain = ports.apimChain ?? direct?.apimChain;
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
  // The pass engine adding its finalizer would wake a second pass per new object: the first goes on with what it wrote.
  const passPredicate = specOrMetadataChangedExceptOwnFinalizer(FINALIZER);
  // Before the informer starts (it learns objects from events). One index of bindings by what they depend on in
  // Azure serves two readers: a pass reads only its own Logic App's bindings (its key is the canonical Logic App
  // ID), and the inventory enqueues the bindings a change concerns.
  const bindingIndex: LogicAppIndex = new KeyIndex(
    manager.informerFor<LogicAppIdentityBinding>(BINDING_RESOURCE),
    bindingDependsOn,
  );
  const bindings = manager.addController<LogicAppIdentityBinding>({
    name: "LogicAppIdentityBinding",
    resource: BINDING_RESOURCE,
    // Our own status writes would otherwise wake us for a pass that only reads; drift is found by resync.
    predicate: passPredicate,
    watches: [
      {
        resource: API_REGISTRATION_RESOURCE,
        map: (reg, primary) =>
          bindingsReferencing(
            reg as Readonly<ApiRegistration>,
            primary as unknown as { list(ns?: string): readonly Readonly<LogicAppIdentityBinding>[] },
          ),
      },
      // The workflow check compares action hosts with the gateways of the policies that reference the binding.
      { resource: JWT_POLICY_RESOURCE, map: (p) => bindingReferencedBy(p as Readonly<ApimJwtPolicy>) },
      ...tenancyWatches,
    ],
    reconciler: (s) => {
      const stores = createOwnershipStores(s.client, recordsNamespace);
      return new BindingReconciler({
        // apimChain goes to Azure directly even with the inventory on; the gateway hosts are cached per service.
        ports: apimChain ? { ...ports, apimChain } : ports,
        ownership: { records: stores.bindings, claims: kubeClaims(stores, s.client) },
        logicAppIndex: bindingIndex,
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
  const jwtPolicies = manager.addController<ApimJwtPolicy>({
    name: "ApimJwtPolicy",
    resource: JWT_POLICY_RESOURCE,
    // Our own status writes would otherwise wake us for a pass that only reads; drift is found by resync.
    predicate: passPredicate,
    watches: [
      {
        resource: BINDING_RESOURCE,
        map: (binding, policies) =>
          policiesReferencing(
            binding as Readonly<LogicAppIdentityBinding>,
            policies as unknown as { list(ns?: string): readonly Readonly<ApimJwtPolicy>[] },
          ),
      },
      {
        // A registration's token version or appId moves the audience and issuer of policies that follow it.
        resource: API_REGISTRATION_RESOURCE,
        map: (reg, policies) => {
          const r = reg as Readonly<ApiRegistration>;
          const bindingCache = manager.informerFor<LogicAppIdentityBinding>(BINDING_RESOURCE);
          return bindingsNamingRegistration(r, bindingCache).flatMap((k) => {
            const b = bindingCache.get(k);
            return b
              ? policiesReferencing(
                  b,
                  policies as unknown as { list(ns?: string): readonly Readonly<ApimJwtPolicy>[] },
                )
              : [];
          });
        },
      },
      ...tenancyWatches,
    ],
    reconciler: (s) =>
      new JwtPolicyReconciler({
        ports: {
          apim: ports.apim,
          records: createOwnershipStores(s.client, recordsNamespace).jwtPolicies,
          // The access check (docs/access-check.md): reads only, AccessVerified never gates Ready.
          ...(apimChain
            ? {
                access: {
                  apim: ports.apim,
                  chain: apimChain,
                  graph: ports.graph,
                  applications: ports.applications,
                },
              }
            : {}),
        },
        tenancy,
        guard: tenancy.jwtPolicyGuard,
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
      }),
    ...(inventory ? { resyncIntervalMs: options.config.inventoryResyncIntervalMs } : {}),
  });
  // ApiRegistration: the API's app registration. A binding that grants one of its roles (any namespace) holds off
  // its Delete, so a binding change wakes the registrations it names.
  manager.addController<ApiRegistration>({
    name: "ApiRegistration",
    resource: API_REGISTRATION_RESOURCE,
    predicate: passPredicate,
    watches: [
      {
        resource: BINDING_RESOURCE,
        map: (binding) => registrationsReferencedBy(binding as Readonly<LogicAppIdentityBinding>),
      },
      ...tenancyWatches,
    ],
    reconciler: (s) =>
      new ApiRegistrationReconciler({
        ports: {
          applications: ports.applications,
          graph: ports.graph,
          claims: registrationClaims(s.client, recordsNamespace),
        },
        tenancy,
        guard: tenancy.apiRegistrationGuard,
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
        ...(options.replicationPollMs !== undefined ? { replicationPollMs: options.replicationPollMs } : {}),
      }),
  });
  if (inventory) {
    const policyIndex = new KeyIndex(
      manager.informerFor<ApimJwtPolicy>(JWT_POLICY_RESOURCE),
      jwtPolicyDependsOn,
    );
    inventory.subscribe((changes) => {
      const refs = changes.flatMap(changeRefs);
      const bindingKeys = bindingIndex.keysFor(refs);
      const policyKeys = policyIndex.keysFor(refs);
      for (const c of changes) metrics.inventoryChanged(c.kind);
      metrics.inventoryEnqueued("LogicAppIdentityBinding", bindingKeys.length);
      metrics.inventoryEnqueued("ApimJwtPolicy", policyKeys.length);
      if (bindingKeys.length + policyKeys.length > 0)
        log.debug(
          { changes: changes.length, bindings: bindingKeys.length, policies: policyKeys.length },
          "Azure changed: enqueue",
        );
      for (const k of bindingKeys) bindings.enqueue(k);
      for (const k of policyKeys) jwtPolicies.enqueue(k);
    });
    metrics.observeInventory({
      sizes: () => inventory.sizes(),
      freshness: () => inventory.freshness(),
      reads: () => ({ ...inventory.stats }),
    });
    manager.addRunnable(inventory);
  }
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
