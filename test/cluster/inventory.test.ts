/**
 * The inventory end to end: the operator in-process with `--inventory` on a short interval and the per-object
 * resync effectively off (6 h), against the real kube-apiserver and the emulator. Drift made in Azure must be healed
 * because a refresh saw it and enqueued exactly the binding that depends on it, not because of a resync. The same for
 * an ApimJwtPolicy: its include removed in the portal is seen by a HEAD (ETag moved) and repaired; its fragment is
 * watched through the service's fragment list.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  BINDING_KIND,
  GROUP,
  JWT_POLICY_KIND,
  VERSION,
  findCondition,
  type ApimJwtPolicy,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { fragmentId } from "../../src/azure/naming.ts";
import { JWT_POLICY_RESOURCE } from "../../src/controllers/jwt-policy/reconciler.ts";
import { BINDING_RESOURCE } from "../../src/controllers/binding/reconciler.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, kubeConfig, waitUntil } from "../support/kube.ts";
import { startTestOperator } from "../support/operator.ts";
import { applyAccessPolicy, deleteScenarioPolicies, scenarioPolicy } from "../support/access-policy.ts";

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
  ids = await emu.control.seedScenario();
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "inv");
  // Tenancy is enforced: the namespace's policy allows the scenario (this suite is about observation).
  await applyAccessPolicy(client, scenarioPolicy(ns, ids));
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns,
    emulator: emu,
    resync: "6h",
    inventoryInterval: "1s",
  });
});

afterAll(async () => {
  await manager?.stop();
  if (client) await deleteScenarioPolicies(client);
  client?.close();
  await emu?.stop();
});

const get = (name: string) => client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name });
const ready = (b: LogicAppIdentityBinding) => findCondition(b.status?.conditions, "Ready")?.status === "True";

async function waitFor(name: string, check: (b: LogicAppIdentityBinding) => boolean, what: string) {
  let last: LogicAppIdentityBinding | undefined;
  await waitUntil(`${name}: ${what}`, async () => check((last = await get(name))), 30_000).catch(
    (e: Error) => {
      throw new Error(`${e.message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
    },
  );
  return last!;
}

describe("LogicAppIdentityBinding with the inventory", () => {
  it("becomes Ready, then heals a recreated identity and a deleted grant found by a refresh", async () => {
    const second = await emu.control.seedLogicApp({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "inv-second",
    });
    for (const [name, logicAppId] of [
      ["orders", ids.logicAppId],
      ["second", second.id],
    ] as const) {
      const body: LogicAppIdentityBinding = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: BINDING_KIND,
        metadata: { name, namespace: ns },
        spec: {
          logicAppId,
          identity: { type: "SystemAssigned" },
          roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
          appRoleAssignments: [{ api: "api://orders", appRole: "AddRole" }],
        },
      };
      await client.create(BINDING_RESOURCE, ns, body);
    }
    const before = await waitFor("orders", ready, "Ready");
    const secondBefore = await waitFor("second", ready, "Ready");
    const oldPrincipal = before.status!.principalId!;

    // Steady state through the inventory: lists only, never a per-object Logic App GET, and no writes.
    await new Promise((r) => setTimeout(r, 1500));
    await emu.control.resetLog();
    await new Promise((r) => setTimeout(r, 3000));
    const quiet = await emu.control.requestLog();
    expect(quiet.filter((e) => e.method !== "GET")).toEqual([]);
    expect(quiet.filter((e) => e.operation === "Workflows_Get")).toEqual([]);

    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "None" });
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    const newPrincipal = (await emu.control.getLogicApp(ids.logicAppId)).identity.principalId!;
    const grant = (
      await emu.control.listRoleAssignments({ principalId: secondBefore.status!.principalId! })
    )[0]!;
    await emu.control.deleteRoleAssignment(grant.name);

    await waitFor(
      "orders",
      (b) =>
        ready(b) &&
        b.status?.principalId === newPrincipal &&
        (b.status?.roleAssignments ?? []).every((r) => r.principalId === newPrincipal),
      "healed onto the new principal",
    );
    await waitUntil(
      "grant of the second binding restored",
      async () =>
        (await emu.control.listRoleAssignments({ principalId: secondBefore.status!.principalId! })).length ===
        1,
      30_000,
    );
    // The world: the new principal holds the grant and the app role, the old one holds nothing of ours.
    expect((await emu.control.listRoleAssignments({ principalId: newPrincipal })).length).toBe(1);
    expect((await emu.control.listAppRoleAssignments({ principalId: newPrincipal })).length).toBe(1);
    expect((await emu.control.listRoleAssignments({ principalId: oldPrincipal })).length).toBe(0);
  });

  it("ApimJwtPolicy: steady state HEADs and one fragment list; an include removed in the portal is seen by its ETag and restored", async () => {
    const target = { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId };
    await emu.control.putPolicyRaw(
      target,
      "<policies>\r\n    <inbound>\r\n        <base />\r\n    </inbound>\r\n</policies>",
    );
    const body: ApimJwtPolicy = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: JWT_POLICY_KIND,
      metadata: { name: "orders-jwt", namespace: ns },
      spec: {
        apimServiceId: ids.apim.serviceId,
        target: { apiId: ids.apim.apiId },
        tenantId: ids.tenantId,
        audiences: ["api://orders"],
      },
    };
    const created = await client.create<ApimJwtPolicy>(JWT_POLICY_RESOURCE, ns, body);
    const include = `<include-fragment fragment-id="${fragmentId(ns, "orders-jwt", created.metadata.uid!)}" />`;
    const policyReady = async () => {
      const p = await client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, { namespace: ns, name: "orders-jwt" });
      return findCondition(p.status?.conditions, "Ready")?.status === "True";
    };
    await waitUntil("policy Ready", policyReady, 30_000);
    expect((await emu.control.getPolicyRaw(target))!.xml).toContain(include);

    // Steady state: the inventory HEADs the document and lists the service's fragments; nothing else GETs or
    // writes them.
    await new Promise((r) => setTimeout(r, 1500));
    await emu.control.resetLog();
    await new Promise((r) => setTimeout(r, 3000));
    const apim = (await emu.control.requestLog()).filter((e) =>
      e.path.toLowerCase().includes("microsoft.apimanagement"),
    );
    expect(apim.filter((e) => e.method !== "HEAD" && e.operation !== "PolicyFragment_ListByService")).toEqual(
      [],
    );
    expect(apim.some((e) => e.method === "HEAD")).toBe(true);
    expect(apim.some((e) => e.operation === "PolicyFragment_ListByService")).toBe(true);

    // Someone removes the include in the portal; the per-object resync is 6 h, so only the inventory can notice.
    const edited = await emu.control.putPolicyRaw(
      target,
      (await emu.control.getPolicyRaw(target))!.xml.replace(include, "<!-- removed by hand -->"),
    );
    await waitUntil(
      "include restored",
      async () => (await emu.control.getPolicyRaw(target))!.xml.includes(include),
      30_000,
    );
    const now = (await emu.control.getPolicyRaw(target))!;
    expect(now.etag).not.toBe(edited.etag);
    expect(now.xml).toContain("<!-- removed by hand -->");
  });
});
