/** Shared pieces of the runtime's cluster tests: a trivial reconciler over LogicAppIdentityBinding and helpers. */
import { BINDING_KIND, BINDING_PLURAL, GROUP, VERSION, FINALIZER } from "../../src/api/v1alpha1/index.ts";
import type { LogicAppIdentityBinding } from "../../src/api/v1alpha1/index.ts";
import { MERGE_PATCH, type KubeClient } from "../../src/runtime/client.ts";
import { parseConfig, type RuntimeConfig } from "../../src/runtime/config.ts";
import { ensureFinalizer, removeFinalizer } from "../../src/runtime/finalizers.ts";
import type { ManagerServices } from "../../src/runtime/manager.ts";
import {
  keyToString,
  type ObjectKey,
  type ReconcileContext,
  type Reconciler,
} from "../../src/runtime/reconciler.ts";
import type { ResourceType } from "../../src/runtime/resource.ts";
import { summarize } from "../../src/runtime/status.ts";

export const BINDING: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: BINDING_PLURAL,
  kind: BINDING_KIND,
  namespaced: true,
};

/** The test reconciler copies this annotation into status.grants, so every change is visible in status. */
export const VALUE = "test.laio.dev/value";

const SUB = "00000000-0000-0000-0000-0000000000a1";

export function bindingBody(name: string, value: string): Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: BINDING_KIND,
    metadata: { name, annotations: { [VALUE]: value } },
    spec: {
      logicAppId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Logic/workflows/${name}`,
      identity: { type: "SystemAssigned" },
      roleAssignments: [
        {
          scope: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv`,
          role: "Key Vault Secrets User",
        },
      ],
    },
  };
}

export function testConfig(overrides: Partial<RuntimeConfig> = {}): RuntimeConfig {
  const { config } = parseConfig(
    [
      "--leader-elect=false",
      "--metrics-addr=127.0.0.1:0",
      "--health-addr=127.0.0.1:0",
      "--log-level=silent",
      "--resync-interval=0",
      "--shutdown-timeout=20s",
    ],
    {},
  );
  return { ...config, ...overrides };
}

export async function createBinding(
  client: KubeClient,
  ns: string,
  name: string,
  value: string,
): Promise<void> {
  await client.create(BINDING, ns, bindingBody(name, value));
}

export async function setValue(client: KubeClient, ns: string, name: string, value: string): Promise<void> {
  await client.patch(
    BINDING,
    { namespace: ns, name },
    { metadata: { annotations: { [VALUE]: value } } },
    MERGE_PATCH,
  );
}

export async function readBinding(
  client: KubeClient,
  ns: string,
  name: string,
): Promise<LogicAppIdentityBinding | undefined> {
  try {
    return await client.get<LogicAppIdentityBinding>(BINDING, { namespace: ns, name });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  }
}

export interface TestReconcilerOptions {
  /** Hold each reconcile this long before writing (to have work in flight). */
  delayMs?: number;
  finalizer?: boolean;
  onStart?: (key: string) => void;
}

/**
 * Level-driven and trivial: ensures the finalizer, copies the value annotation into status.grants with a Ready
 * condition, records an Event; on deletion records the cleanup and removes the finalizer.
 */
export class TestReconciler implements Reconciler<LogicAppIdentityBinding> {
  readonly reconciled: Array<{ key: string; value: string | undefined }> = [];
  readonly cleanedUp: string[] = [];
  readonly gone: string[] = [];
  private readonly s: ManagerServices;
  private readonly o: TestReconcilerOptions;

  constructor(services: ManagerServices, options: TestReconcilerOptions = {}) {
    this.s = services;
    this.o = options;
  }

  count(key: string): number {
    return this.reconciled.filter((r) => r.key === key).length;
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext<LogicAppIdentityBinding>) {
    const k = keyToString(key);
    this.o.onStart?.(k);
    if (this.o.delayMs) await new Promise((r) => setTimeout(r, this.o.delayMs));
    const obj = ctx.object();
    if (!obj) {
      this.gone.push(k);
      return {};
    }
    let current: Readonly<LogicAppIdentityBinding> | undefined = obj;
    if (this.o.finalizer !== false) {
      if (obj.metadata.deletionTimestamp) {
        this.cleanedUp.push(k);
        await removeFinalizer(this.s.client, BINDING, obj, FINALIZER);
        return {};
      }
      current = await ensureFinalizer(this.s.client, BINDING, obj, FINALIZER);
      if (!current) return {};
    }
    const now = new Date(ctx.clock.now());
    const result = await this.s.status.update(BINDING, current, (o) => {
      const value = o.metadata.annotations?.[VALUE] ?? "";
      return {
        ...o.status,
        grants: value,
        observedGeneration: o.metadata.generation,
        conditions: summarize(
          o.status?.conditions,
          { state: "ready", reason: "Observed", message: `value ${value}` },
          o.metadata.generation,
          now,
        ),
      };
    });
    const value = result.object.metadata.annotations?.[VALUE];
    this.s.events.record(result.object, { type: "Normal", reason: "Observed", note: `value ${value}` });
    this.reconciled.push({ key: k, value });
    ctx.log.info({ value, written: result.written }, "test reconcile");
    return {};
  }
}
