/**
 * Issue 14 end to end (workflow check and connections): the operator in-process against the real kube-apiserver and
 * the Azure emulator. Assertions are on the world: the binding's conditions as the API server holds them, and the
 * access policies the emulator holds on a V2 connection.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  BINDING_KIND,
  GROUP,
  VERSION,
  findCondition,
  JWT_POLICY_KIND,
  type ApimJwtPolicy,
  type BindingSpec,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { BINDING_RESOURCE } from "../../src/controllers/binding/reconciler.ts";
import { JWT_POLICY_RESOURCE } from "../../src/controllers/resources.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, kubeConfig, kubectl, waitUntil } from "../support/kube.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { startTestOperator } from "../support/operator.ts";
import { seedStandardWithV2Connection } from "../support/emulator.ts";

let kubeconfigPath: string;
let emu: RunningEmulator;
let client: KubeClient;
let ns: string;
let ids: ScenarioIds;
let manager: Manager | undefined;

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  client = new KubeClient(kubeConfig(kubeconfigPath));
  emu = await startEmulator();
});

afterAll(async () => {
  client?.close();
  await emu?.stop();
});

beforeEach(async () => {
  await emu.control.reset();
  ids = await emu.control.seedScenario();
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "wfcheck");
  const recordsNs = await freshNamespace(kubeConfig(kubeconfigPath), "records");
  await applyAccessPolicy(client, scenarioPolicy(ns, ids));
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns,
    emulator: emu,
    recordsNamespace: recordsNs,
  });
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  await deleteAccessPolicy(client, `scenario-${ns}`);
});

const SCHEMA =
  "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#";

function definition(actions: Record<string, unknown>) {
  return { $schema: SCHEMA, contentVersion: "1.0.0.0", parameters: {}, triggers: {}, actions, outputs: {} };
}

const callOrders = (auth: Record<string, unknown>) => ({
  type: "Http",
  inputs: {
    method: "POST",
    uri: "https://orders.contoso.com/orders",
    authentication: { type: "ManagedServiceIdentity", ...auth },
  },
  runAfter: {},
});

async function createBinding(name: string, spec: BindingSpec): Promise<void> {
  const body: LogicAppIdentityBinding = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: BINDING_KIND,
    metadata: { name, namespace: ns },
    spec,
  };
  await client.create(BINDING_RESOURCE, ns, body);
}

async function waitFor(name: string, check: (b: LogicAppIdentityBinding) => boolean, what: string) {
  let last: LogicAppIdentityBinding | undefined;
  await waitUntil(
    `${name}: ${what}`,
    async () => {
      last = await client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name });
      return check(last);
    },
    30_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
  });
  return last!;
}

const cond = (b: LogicAppIdentityBinding, type: string) => findCondition(b.status?.conditions, type);
const ready = (b: LogicAppIdentityBinding) => cond(b, "Ready")?.status === "True";
const consistent = (status: "True" | "False") => (b: LogicAppIdentityBinding) =>
  ready(b) && cond(b, "WorkflowConsistent")?.status === status;

const ordersSpec = (over: Partial<BindingSpec> = {}): BindingSpec => ({
  logicAppId: ids.logicAppId,
  identity: { type: "SystemAssigned" },
  appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
  ...over,
});

describe("workflow check (WorkflowConsistent)", () => {
  it("a trailing-slash audience is reported with the workflow, the action and the fix, never blocking Ready; fixing it in Azure clears it", async () => {
    const uri = ids.ordersApi.identifierUri;
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({
        Scope: { type: "Scope", actions: { CallOrders: callOrders({ audience: `${uri}/` }) } },
      }),
    });
    await createBinding("orders", ordersSpec());
    const bad = await waitFor("orders", consistent("False"), "WorkflowConsistent False and Ready");
    const c = cond(bad, "WorkflowConsistent")!;
    expect(c.reason).toBe("WorkflowMismatch");
    expect(c.message).toContain(`workflow "${ids.logicAppName}", action "CallOrders" (Scope/CallOrders)`);
    expect(c.message).toContain(`audience "${uri}/" does not exactly match "${uri}"`);
    expect(c.message).toContain("trailing slash");
    await waitUntil("WorkflowMismatch event", async () => {
      const r = await kubectl(kubeconfigPath, [
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].reason}",
      ]);
      return r.stdout.includes("WorkflowMismatch");
    });

    // A person fixes the action in the designer: the next observation clears the warning.
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({
        Scope: { type: "Scope", actions: { CallOrders: callOrders({ audience: uri }) } },
      }),
    });
    const good = await waitFor("orders", consistent("True"), "WorkflowConsistent True");
    expect(cond(good, "WorkflowConsistent")!.reason).toBe("Consistent");
    expect(cond(good, "WorkflowConsistent")!.message).toContain("1 managed-identity action(s)");
  });

  it("an action on a user-assigned identity while the binding grants the system one is reported, and clears when fixed", async () => {
    const { id: uami } = await emu.control.seedUserAssignedIdentity({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "orders-caller",
    });
    const uri = ids.ordersApi.identifierUri;
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({
        Each: {
          type: "Foreach",
          foreach: "@triggerBody()",
          actions: { Notify: callOrders({ audience: uri, identity: uami }) },
        },
      }),
    });
    await createBinding("orders", ordersSpec());
    const bad = await waitFor("orders", consistent("False"), "WorkflowConsistent False");
    const m = cond(bad, "WorkflowConsistent")!.message;
    expect(m).toContain(`action "Notify" (Each/Notify)`);
    expect(m).toContain(`uses the user-assigned identity ${uami}`);
    expect(m).toContain('remove "identity"');

    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({
        Each: {
          type: "Foreach",
          foreach: "@triggerBody()",
          actions: { Notify: callOrders({ audience: uri }) },
        },
      }),
    });
    await waitFor("orders", consistent("True"), "WorkflowConsistent True");
  });
});

describe("workflow check: the APIM gateway of a policy that references the binding", () => {
  it("an action calling the backend directly is reported once a policy references the binding, naming both hosts; calling the gateway clears it", async () => {
    const uri = ids.ordersApi.identifierUri;
    const gateway = "apim-orders.azure-api.net";
    // callOrders goes to https://orders.contoso.com: the backend, bypassing APIM and its validate-jwt rule.
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({ CallOrders: callOrders({ audience: uri }) }),
    });
    await createBinding("orders", ordersSpec());
    // No policy references the binding yet: the host is nobody's to compare.
    await waitFor("orders", consistent("True"), "WorkflowConsistent True without a policy");

    // A policy that names the binding: its watch wakes the binding, whose next pass compares the host.
    const policy: ApimJwtPolicy = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: JWT_POLICY_KIND,
      metadata: { name: "orders-jwt", namespace: ns },
      spec: {
        apimServiceId: ids.apim.serviceId,
        target: { apiId: ids.apim.apiId },
        bindingRef: { name: "orders" },
      },
    };
    await client.create(JWT_POLICY_RESOURCE, ns, policy);
    const bad = await waitFor("orders", consistent("False"), "WorkflowConsistent False (host)");
    const c = cond(bad, "WorkflowConsistent")!;
    expect(c.reason).toBe("WorkflowMismatch");
    expect(c.message).toContain(`workflow "${ids.logicAppName}", action "CallOrders"`);
    expect(c.message).toContain(`calls orders.contoso.com, not the API Management gateway (${gateway})`);

    // A person points the action at the gateway: the next observation clears it.
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({
        CallOrders: {
          ...callOrders({ audience: uri }),
          inputs: {
            method: "POST",
            uri: `https://${gateway}/orders`,
            authentication: { type: "ManagedServiceIdentity", audience: uri },
          },
        },
      }),
    });
    const good = await waitFor("orders", consistent("True"), "WorkflowConsistent True through the gateway");
    expect(cond(good, "WorkflowConsistent")!.reason).toBe("Consistent");
    await client.delete(JWT_POLICY_RESOURCE, { namespace: ns, name: "orders-jwt" });
  });

  it("with the inventory on and no resync, the policy's watch wakes the binding when it names it and when it goes", async () => {
    // Inventory on: resync falls to its 6 h default and the hour-long refresh never comes, so only a watch wakes it.
    await manager?.stop();
    manager = await startTestOperator({
      kubeconfigPath,
      namespace: ns,
      emulator: emu,
      recordsNamespace: await freshNamespace(kubeConfig(kubeconfigPath), "records"),
      inventoryInterval: "1h",
    });
    const uri = ids.ordersApi.identifierUri;
    await emu.control.seedWorkflowDefinition({
      logicAppId: ids.logicAppId,
      definition: definition({ CallOrders: callOrders({ audience: uri }) }),
    });
    await createBinding("orders", ordersSpec());
    await waitFor("orders", consistent("True"), "WorkflowConsistent True without a policy");
    await client.create(JWT_POLICY_RESOURCE, ns, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: JWT_POLICY_KIND,
      metadata: { name: "orders-jwt", namespace: ns },
      spec: {
        apimServiceId: ids.apim.serviceId,
        target: { apiId: ids.apim.apiId },
        bindingRef: { name: "orders" },
      },
    } satisfies ApimJwtPolicy);
    const bad = await waitFor("orders", consistent("False"), "WorkflowConsistent False (host)");
    expect(cond(bad, "WorkflowConsistent")!.message).toContain("apim-orders.azure-api.net");
    // The policy goes: its rule is no longer in the gateway, so the direct call bypasses nothing of the binding's.
    await client.delete(JWT_POLICY_RESOURCE, { namespace: ns, name: "orders-jwt" });
    await waitFor("orders", consistent("True"), "WorkflowConsistent True once the policy is gone");
  });
});

describe("connections follow the identity (Standard, V2)", () => {
  it("a recreated identity re-points the access policy and removes the stale one this operator made, never someone else's", async () => {
    const { siteId, connectionId } = await seedStandardWithV2Connection(emu.control, ids);
    await emu.control.seedSiteWorkflow({
      siteId,
      name: "place-order",
      definition: definition({ CallOrders: callOrders({ audience: ids.ordersApi.identifierUri }) }),
    });
    await createBinding("standard", ordersSpec({ logicAppId: siteId }));
    const first = await waitFor(
      "standard",
      (b) => ready(b) && cond(b, "ConnectionsReady")?.status === "True",
      "ConnectionsReady True",
    );
    expect(cond(first, "WorkflowConsistent")?.status).toBe("True");
    const p1 = first.status!.principalId!;
    const policies = async () =>
      (await emu.control.connectionAccessPolicies(connectionId)).map((p) => ({
        name: p.name,
        objectId: p.properties.principal.identity.objectId,
      }));
    expect(await policies()).toEqual([{ name: `laio-${p1}`, objectId: p1 }]);

    // Someone else gives the same (old) principal access by hand; that policy is theirs.
    await emu.control.seedConnectionAccessPolicy({ connectionId, name: "by-hand", objectId: p1 });

    // The identity is recreated behind the operator's back: a new principal.
    await emu.control.setLogicAppIdentity(siteId, { type: "None" });
    await emu.control.setLogicAppIdentity(siteId, { type: "SystemAssigned" });
    const p2 = (await emu.control.getLogicApp(siteId)).identity.principalId!;
    expect(p2).not.toBe(p1);
    await waitFor(
      "standard",
      (b) => b.status?.principalId === p2 && cond(b, "ConnectionsReady")?.status === "True",
      "ConnectionsReady True for the new principal",
    );
    await waitUntil(
      "stale policy removed",
      async () => !(await policies()).some((p) => p.name === `laio-${p1}`),
      30_000,
    );
    expect((await policies()).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "by-hand", objectId: p1 },
      { name: `laio-${p2}`, objectId: p2 },
    ]);

    // Deleting the binding (policy Delete) removes the policy it made, and only that one.
    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "standard" });
    await waitUntil(
      "binding gone",
      async () =>
        client.get(BINDING_RESOURCE, { namespace: ns, name: "standard" }).then(
          () => false,
          () => true,
        ),
      30_000,
    );
    expect(await policies()).toEqual([{ name: "by-hand", objectId: p1 }]);
  });

  it("a connection outside the namespace's AzureAccessPolicy is refused with a reason and never written", async () => {
    const site = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "orders-standard",
      kind: "Standard",
    });
    const other = "0f0e0d0c-0b0a-4909-8807-060504030201";
    await emu.control.seedSubscription({ subscriptionId: other });
    const foreign = await emu.control.seedConnection({
      subscriptionId: other,
      resourceGroup: "shared",
      name: "sql",
      kind: "V2",
    });
    await createBinding("standard", ordersSpec({ logicAppId: site.id, connections: [foreign.id] }));
    const b = await waitFor(
      "standard",
      (x) => ready(x) && cond(x, "ConnectionsReady")?.status === "False",
      "ConnectionsReady False",
    );
    expect(cond(b, "ConnectionsReady")!.reason).toBe("NotAllowed");
    expect(cond(b, "ConnectionsReady")!.message).toContain("spec.scopes");
    expect(await emu.control.connectionAccessPolicies(foreign.id)).toEqual([]);
  });
});
