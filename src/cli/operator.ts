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
import { BINDING_RESOURCE, BindingReconciler } from "../controllers/binding/reconciler.ts";
import {
  JWT_POLICY_RESOURCE,
  JwtPolicyReconciler,
  policiesReferencing,
} from "../controllers/jwt-policy/reconciler.ts";
import { specOrMetadataChanged } from "../runtime/controller.ts";
import type { RuntimeConfig } from "../runtime/config.ts";
import type { Logger } from "../runtime/logger.ts";
import { KeyIndex } from "../runtime/key-index.ts";
import { Manager, type ManagerOptions } from "../runtime/manager.ts";
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../api/v1alpha1/index.ts";

export interface OperatorOptions {
  config: RuntimeConfig;
  azure: Omit<AzurePortsOptions, "onCall">;
  kubeConfig?: KubeConfig;
  logger?: Logger;
  /** Replaces the ports built from `azure` (tests). */
  ports?: AzurePorts;
  replicationPollMs?: number;
  manager?: Partial<Pick<ManagerOptions, "informer" | "backoff" | "onLostLeadership">>;
}

export function createOperator(options: OperatorOptions): Manager {
  const manager = new Manager({
    config: options.config,
    ...(options.kubeConfig ? { kubeConfig: options.kubeConfig } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...options.manager,
  });
  const metrics = manager.services.metrics;
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
  const bindings = manager.addController<LogicAppIdentityBinding>({
    name: "LogicAppIdentityBinding",
    resource: BINDING_RESOURCE,
    // Our own status writes would otherwise wake us for a pass that only reads; drift is found by resync.
    predicate: specOrMetadataChanged,
    reconciler: (s) =>
      new BindingReconciler({
        ports,
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
        ...(options.replicationPollMs !== undefined ? { replicationPollMs: options.replicationPollMs } : {}),
      }),
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
    ],
    reconciler: (s) =>
      new JwtPolicyReconciler({
        ports: { apim: ports.apim },
        client: s.client,
        status: s.status,
        events: s.events,
        metrics: s.metrics,
      }),
  });
  return manager;
}
