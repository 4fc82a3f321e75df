/**
 * The inventory decorator (src/azure/inventory) through the real SDK clients against the HTTPS emulator: what it
 * serves must equal what Azure holds, it must get there with one paged list per subscription instead of a GET per
 * object, and a refresh must report what changed behind its back to exactly the bindings that depend on it.
 */
import { describe, expect, it, vi } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import { rfc3339, type LogicAppIdentityBinding } from "../../src/api/v1alpha1/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import { AzureBudget } from "../../src/azure/inventory/budget.ts";
import { bindingDependsOn, changeRefs } from "../../src/azure/inventory/depends-on.ts";
import { Inventory, type InventoryChange } from "../../src/azure/inventory/inventory.ts";
import type { AzureListings, AzurePorts } from "../../src/azure/ports.ts";
import { converge } from "../../bench/core.ts";
import { KeyIndex } from "../../src/runtime/key-index.ts";
import type { InformerHandler } from "../../src/runtime/informer.ts";

const credential = {
  getToken: async () => ({ token: "inventory-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

let emu: RunningEmulator;
let ids: ScenarioIds;
let direct: AzurePorts & { listings: AzureListings };

useEmulator(
  { config: { replicationDelayMs: 0, armPageSize: 1000, throttling: { enabled: false } } },
  (env) => ({ emu, ids, ports: direct } = env),
);

async function seedApps(n: number, prefix = "inv"): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const app = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: `${prefix}-${i}`,
      identity: { type: "SystemAssigned" },
    });
    out.push(app.id);
  }
  return out;
}

async function count(operation: string): Promise<number> {
  return (await emu.control.requestLog({ operation })).length;
}

function binding(name: string, logicAppId: string, scope: string): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name, namespace: "inv", uid: `uid-${name}`, generation: 1 },
    spec: {
      logicAppId,
      identity: { type: "SystemAssigned" },
      roleAssignments: [{ scope, role: "Key Vault Secrets User" }],
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
    },
  };
}

describe("Inventory: reads", () => {
  it("serves every Logic App of a subscription from one paged list, equal to what a GET returns", async () => {
    const apps = await seedApps(12);
    await emu.control.setConfig({ armPageSize: 5 });
    const inv = new Inventory(direct, direct.listings);
    const ports = inv.ports();
    await emu.control.resetLog();
    const served = await Promise.all(apps.map((id) => ports.logicApps.observe(id)));
    // 13 workflows (12 + the scenario's) in pages of 5: 3 list requests; no GET per app.
    expect(await count("Workflows_ListBySubscription")).toBe(3);
    expect(await count("Workflows_Get")).toBe(0);
    for (const [i, id] of apps.entries()) {
      const truth = await emu.control.getLogicApp(id);
      expect(served[i]!.identity.principalId).toBe(truth.identity?.principalId);
      expect(served[i]!.version).toBe(truth.changedTime);
      expect(served[i]).toEqual(await direct.logicApps.observe(id));
    }
  });

  it("falls through to a GET for an app created after the last list, and absent stays absent", async () => {
    const inv = new Inventory(direct, direct.listings);
    const ports = inv.ports();
    await ports.logicApps.observe(ids.logicAppId);
    const [late] = await seedApps(1, "late");
    await emu.control.resetLog();
    const o = await ports.logicApps.observe(late!);
    expect(o.exists).toBe(true);
    expect(o.identity.principalId).toBe((await emu.control.getLogicApp(late!)).identity?.principalId);
    expect(await count("Workflows_Get")).toBe(1);
    // Remembered: the next read is served.
    await ports.logicApps.observe(late!);
    expect(await count("Workflows_Get")).toBe(1);
    const gone = await ports.logicApps.observe(late!.replace("late-0", "never"));
    expect(gone.exists).toBe(false);
  });

  it("writes go to Azure and are read back without another request (read-your-writes)", async () => {
    const inv = new Inventory(direct, direct.listings);
    const ports = inv.ports();
    const before = await ports.logicApps.observe(ids.logicAppId);
    expect(before.identity.type).toBe("None");
    const after = await ports.logicApps.setIdentity(
      ids.logicAppId,
      { type: "SystemAssigned", userAssignedIdentityIds: [] },
      before.version,
    );
    const principal = after.identity.principalId!;
    expect((await emu.control.getLogicApp(ids.logicAppId)).identity?.principalId).toBe(principal);
    const def = (await ports.roleDefinitions.resolve(ids.keyVaultScope, "Key Vault Secrets User"))!;
    const created = await ports.roleAssignments.create({
      scope: ids.keyVaultScope,
      name: "0f6c1d5e-8a3b-4c1a-9d2e-7b5a4c3d2e1f",
      roleDefinitionId: def.id,
      principalId: principal,
      description: "inventory test",
    });
    await emu.control.resetLog();
    expect((await ports.logicApps.observe(ids.logicAppId)).identity.principalId).toBe(principal);
    const listed = await ports.roleAssignments.listForPrincipal(ids.keyVaultScope, principal);
    expect(listed.map((a) => a.id.toLowerCase())).toEqual([created.id.toLowerCase()]);
    expect((await emu.control.requestLog()).length).toBe(0);
    // And the emulator agrees with the inventory.
    expect((await emu.control.listRoleAssignments({ principalId: principal })).length).toBe(1);
    await ports.roleAssignments.delete(created.id);
    expect(await ports.roleAssignments.listForPrincipal(ids.keyVaultScope, principal)).toEqual([]);
    expect((await emu.control.listRoleAssignments({ principalId: principal })).length).toBe(0);
  });

  it("converges a binding to the same Azure state as the direct ports, with fewer reads", async () => {
    const [a, b] = await seedApps(2, "conv");
    await emu.control.setLogicAppIdentity(a!, { type: "None" });
    await emu.control.setLogicAppIdentity(b!, { type: "None" });
    const now = () => rfc3339(new Date());
    await emu.control.resetLog();
    const viaDirect = await converge(binding("direct", a!, ids.keyVaultScope), direct, { now });
    const directReads = (await emu.control.requestLog()).filter((e) => e.method === "GET").length;
    const inv = new Inventory(direct, direct.listings);
    await emu.control.resetLog();
    const viaInventory = await converge(binding("inv", b!, ids.keyVaultScope), inv.ports(), { now });
    const inventoryReads = (await emu.control.requestLog()).filter((e) => e.method === "GET").length;
    expect(viaDirect.stoppedBy).toBeUndefined();
    expect(viaInventory.stoppedBy).toBeUndefined();
    for (const id of [a!, b!]) {
      const principal = (await emu.control.getLogicApp(id)).identity!.principalId!;
      expect((await emu.control.listRoleAssignments({ principalId: principal })).length).toBe(1);
      const grants = await emu.control.listAppRoleAssignments({ principalId: principal });
      expect(grants.length).toBe(1);
    }
    const summary = (r: typeof viaDirect) =>
      r.status!.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`);
    expect(summary(viaInventory)).toEqual(summary(viaDirect));
    expect(inventoryReads).toBeLessThan(directReads);
  });
  it("a grant made by hand after the last list: the 409 teaches the inventory, and the binding adopts it", async () => {
    const [app] = await seedApps(1, "adopt");
    const inv = new Inventory(direct, direct.listings);
    const ports = inv.ports();
    const principal = (await ports.logicApps.observe(app!)).identity.principalId!;
    await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: "4633458b-17de-408a-b874-0445c86b69e6", // Key Vault Secrets User
      principalId: principal,
    });
    const r = await converge(binding("adopt", app!, ids.keyVaultScope), ports, {
      now: () => rfc3339(new Date()),
    });
    expect(r.stoppedBy).toBeUndefined();
    expect(r.status!.conditions!.find((c) => c.type === "Ready")?.status).toBe("True");
    expect((await emu.control.listRoleAssignments({ principalId: principal })).length).toBe(1);
  });
});

describe("Inventory: an API's list in flight", () => {
  /** The direct ports, with each `appRoleAssignedTo` list held after Azure answered until the test lets it go. */
  function heldLists(): { inner: AzurePorts; held: (() => void)[] } {
    const held: (() => void)[] = [];
    const graph = direct.graph;
    const inner: AzurePorts = {
      ...direct,
      graph: {
        listAppRoleAssignedTo: async (id, call) => {
          const got = await graph.listAppRoleAssignedTo(id, call);
          await new Promise<void>((r) => held.push(r));
          return got;
        },
        createAppRoleAssignment: (r, p, a, call) => graph.createAppRoleAssignment(r, p, a, call),
        deleteAppRoleAssignment: (r, id, call) => graph.deleteAppRoleAssignment(r, id, call),
        findServicePrincipal: (api, call) => graph.findServicePrincipal(api, call),
      },
    };
    return { inner, held };
  }

  it("readers share one list, and a grant made meanwhile is served after it, whichever reader came last", async () => {
    const [app] = await seedApps(1, "race");
    const principal = (await emu.control.getLogicApp(app!)).identity!.principalId!;
    const sp = ids.ordersApi.servicePrincipalId;
    const { inner, held } = heldLists();
    const ports = new Inventory(inner, direct.listings).ports();
    await emu.control.resetLog();
    // Two workers read an API the inventory does not hold yet: Azure answers before the grant below exists.
    const first = ports.graph.listAppRoleAssignedTo(sp);
    const second = ports.graph.listAppRoleAssignedTo(sp);
    await vi.waitFor(() => expect(held.length).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 100));
    const created = await ports.graph.createAppRoleAssignment(sp, principal, ids.ordersApi.appRoles.AddRole);
    // The list that started last ends first (a separate list per reader lost the grant this way: one journal).
    while (held.length > 0) {
      held.pop()!();
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all([first, second]);
    const served = await ports.graph.listAppRoleAssignedTo(sp);
    expect(served.map((a) => a.id)).toContain(created.id);
    expect(await count("AppRoleAssignedTo_List")).toBe(1);
    // What Azure holds, for comparison.
    const truth = await emu.control.listAppRoleAssignments({ principalId: principal });
    expect(truth.map((a) => a.id)).toEqual([created.id]);
  });
});

describe("Inventory: change → enqueue", () => {
  it("reports a recreated identity and a deleted grant to exactly the bindings that depend on them", async () => {
    const apps = await seedApps(3, "chg");
    const changes: InventoryChange[] = [];
    const inv = new Inventory(direct, direct.listings, { onChange: (c) => changes.push(...c) });
    const ports = inv.ports();
    const now = () => rfc3339(new Date());
    const bindings = apps.map((id, i) => binding(`b${i}`, id, ids.keyVaultScope));
    for (const b of bindings) {
      const r = await converge(b, ports, { now });
      expect(r.stoppedBy).toBeUndefined();
      b.status = r.decision!.status;
    }
    // The index, fed as the binding informer would feed it.
    let handler: InformerHandler<LogicAppIdentityBinding> | undefined;
    const index = new KeyIndex<LogicAppIdentityBinding>({ on: (h) => (handler = h) }, bindingDependsOn);
    for (const b of bindings) handler!("add", b);

    await inv.refresh();
    expect(changes).toEqual([]); // its own writes are not news

    const oldPrincipal = bindings[0]!.status!.principalId!;
    await emu.control.setLogicAppIdentity(apps[0]!, { type: "None" });
    await emu.control.setLogicAppIdentity(apps[0]!, { type: "SystemAssigned" });
    const grant = (
      await emu.control.listRoleAssignments({ principalId: bindings[1]!.status!.principalId! })
    )[0]!;
    await emu.control.deleteRoleAssignment(grant.name);
    await emu.control.resetLog();
    await inv.refresh();
    const log = await emu.control.requestLog();
    // One refresh: workflows + sites + role assignments for the subscription, one appRoleAssignedTo list, one SP.
    expect(log.length).toBe(5);

    expect(changes).toContainEqual(
      expect.objectContaining({ kind: "logicApp", what: "identity", id: apps[0]!.toLowerCase() }),
    );
    expect(changes).toContainEqual(
      expect.objectContaining({
        kind: "roleAssignment",
        what: "gone",
        principalId: grant.properties.principalId.toLowerCase(),
      }),
    );
    const keys = index.keysFor(changes.flatMap(changeRefs)).sort();
    expect(keys).toEqual(["inv/b0", "inv/b1"]);
    expect(oldPrincipal).not.toBe((await emu.control.getLogicApp(apps[0]!)).identity?.principalId);

    // Healing through the inventory puts the world right again, and the next refresh sees nothing new after it.
    for (const b of bindings.slice(0, 2)) {
      const r = await converge(b, ports, { now });
      expect(r.stoppedBy).toBeUndefined();
      b.status = r.decision!.status;
    }
    const healed = (await emu.control.getLogicApp(apps[0]!)).identity!.principalId!;
    expect((await emu.control.listRoleAssignments({ principalId: healed })).length).toBe(1);
    expect(
      (await emu.control.listRoleAssignments({ principalId: bindings[1]!.status!.principalId! })).length,
    ).toBe(1);
    changes.length = 0;
    await inv.refresh();
    expect(changes.filter((c) => c.kind !== "appRoleAssignment")).toEqual([]);
  });
});

describe("AzureBudget: ARM throttling only delays", () => {
  const throttled = { enabled: true, reads: { capacity: 20, refillPerSecond: 40 } };

  it("below Azure's bucket, a burst of reads never meets a 429", async () => {
    await emu.control.setConfig({ throttling: { ...throttled } });
    const budget = new AzureBudget({ armReads: { capacity: 15, refillPerSecond: 30 } });
    const ports = createAzurePorts({
      credential,
      armEndpoint: emu.url,
      graphEndpoint: emu.url,
      tlsCa: emu.caPem,
      budget,
    });
    await emu.control.resetLog();
    const got = await Promise.all(Array.from({ length: 40 }, () => ports.logicApps.observe(ids.logicAppId)));
    expect(got.every((o) => o.exists)).toBe(true);
    const log = await emu.control.requestLog();
    expect(log.filter((e) => e.status === 429)).toEqual([]);
    expect(log.length).toBe(40);
    expect(budget.waited()).toBeGreaterThan(0);
  });

  it("above it, the 429s are absorbed: every call still succeeds", async () => {
    await emu.control.setConfig({ throttling: { ...throttled } });
    const budget = new AzureBudget({ armReads: { capacity: 100, refillPerSecond: 100 } });
    const ports = createAzurePorts({
      credential,
      armEndpoint: emu.url,
      graphEndpoint: emu.url,
      tlsCa: emu.caPem,
      budget,
    });
    await emu.control.resetLog();
    const got = await Promise.all(Array.from({ length: 40 }, () => ports.logicApps.observe(ids.logicAppId)));
    expect(got.every((o) => o.exists)).toBe(true);
    const log = await emu.control.requestLog();
    expect(log.filter((e) => e.status === 429).length).toBeGreaterThan(0);
    expect(log.filter((e) => e.status === 200).length).toBe(40);
    expect(budget.throttled.surfaced).toBe(0);
  });
});

describe("Inventory: memory", () => {
  it("drops a deleted Logic App's workflow definitions at the next refresh", async () => {
    const apps = await seedApps(3, "defs");
    for (const id of apps)
      await emu.control.seedWorkflowDefinition({
        logicAppId: id,
        definition: { actions: {} },
        parameters: {},
      });
    const inv = new Inventory(direct, direct.listings);
    const ports = inv.ports();
    for (const id of apps) await ports.workflows!.readDefinitions(id);
    const held = inv.sizes().workflowDefinitions!;
    expect(held).toBeGreaterThanOrEqual(3);

    await emu.control.deleteLogicApp(apps[0]!);
    await emu.control.deleteLogicApp(apps[1]!);
    await inv.refresh();
    expect(inv.sizes().workflowDefinitions).toBe(held - 2);
    // What is left is still served.
    expect((await ports.workflows!.readDefinitions(apps[2]!))?.workflows).toHaveLength(1);
  });
});
