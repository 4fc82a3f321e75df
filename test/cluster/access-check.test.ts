/**
 * The access check end to end (docs/access-check.md): the operator in-process against the real kube-apiserver and the
 * emulator. A validate-jwt at a broader scope (global, or a product the API is in) that demands another audience makes
 * AccessVerified False naming that scope, while Ready stays True (a verdict, not a precondition); fixing the policy in
 * "Azure" clears it at the next observation. Assertions are on the object as the API server holds it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
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
import { BINDING_RESOURCE } from "../../src/controllers/binding/reconciler.ts";
import { JWT_POLICY_RESOURCE } from "../../src/controllers/jwt-policy/reconciler.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { freshNamespace, kubeConfig, waitUntil } from "../support/kube.ts";
import { startTestOperator } from "../support/operator.ts";

const policies = (inbound: string, base = true) =>
  `<policies>\n  <inbound>\n    ${inbound}\n  </inbound>\n  <backend>\n    ${base ? "<base />" : "<forward-request />"}\n  </backend>\n  <outbound>\n    ${base ? "<base />" : ""}\n  </outbound>\n  <on-error>\n    ${base ? "<base />" : ""}\n  </on-error>\n</policies>`;

const otherAudienceRule = (tenantId: string) =>
  `<validate-jwt header-name="Authorization" failed-validation-httpcode="401">` +
  `<openid-config url="https://login.microsoftonline.com/${tenantId}/v2.0/.well-known/openid-configuration" />` +
  `<audiences><audience>api://someone-else</audience></audiences>` +
  `<issuers><issuer>https://sts.windows.net/${tenantId}/</issuer></issuers>` +
  `</validate-jwt>`;

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
  // The orders API's app registration: v1 tokens (requestedAccessTokenVersion null), so aud = api://orders.
  await emu.control.seedApplication({
    displayName: "orders-api",
    appId: ids.ordersApi.appId,
    identifierUris: [ids.ordersApi.identifierUri],
    requestedAccessTokenVersion: null,
  });
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "access");
  await applyAccessPolicy(client, scenarioPolicy(ns, ids));
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  await deleteAccessPolicy(client, `scenario-${ns}`);
});

async function startWorld(): Promise<void> {
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns,
    emulator: emu,
    resync: "2s",
    replicationPollMs: 500,
  });
  const binding: LogicAppIdentityBinding = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: BINDING_KIND,
    metadata: { name: "orders", namespace: ns },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
    },
  };
  await client.create(BINDING_RESOURCE, ns, binding);
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
}

async function waitForAccess(status: string, timeoutMs = 60_000): Promise<ApimJwtPolicy> {
  let last: ApimJwtPolicy | undefined;
  try {
    await waitUntil(
      `AccessVerified=${status}`,
      async () => {
        last = await client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, { namespace: ns, name: "orders-jwt" });
        return findCondition(last.status?.conditions, "AccessVerified")?.status === status;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last?.status)}`, { cause: e });
  }
  return last!;
}

describe("AccessVerified", () => {
  it("a global validate-jwt for another audience: False naming the global scope; fixed in Azure, True", async () => {
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId },
      policies(otherAudienceRule(ids.tenantId), false),
    );
    await startWorld();
    const blocked = await waitForAccess("False");
    const c = findCondition(blocked.status?.conditions, "AccessVerified")!;
    expect(c.reason).toBe("AccessBlocked");
    expect(c.message).toContain("validate-jwt at global scope");
    expect(c.message).toContain('"api://orders"');
    expect(c.message).toContain("api://someone-else");
    // A verdict, not a precondition: the rule is installed and the object Ready.
    expect(findCondition(blocked.status?.conditions, "Ready")?.status).toBe("True");
    expect(blocked.status?.accessCheck).toMatchObject({
      operations: 1,
      evaluated: 1,
      blocked: 1,
      verdicts: [{ operation: `${ids.apim.apiId}/${ids.apim.operationId}`, verdict: "Blocked" }],
    });

    // Someone fixes the global policy in the portal: the next observation clears it.
    await emu.control.putPolicyRaw({ serviceId: ids.apim.serviceId }, policies("", false));
    const allowed = await waitForAccess("True");
    expect(findCondition(allowed.status?.conditions, "AccessVerified")?.reason).toBe("AccessAllowed");
    expect(allowed.status?.accessCheck).toMatchObject({ allowed: 1, blocked: 0, unknown: 0 });
  });

  it("a product the API is in demands another audience: False naming the product", async () => {
    await emu.control.seedApimProductApi({
      serviceId: ids.apim.serviceId,
      productId: ids.apim.productId,
      apiId: ids.apim.apiId,
    });
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, productId: ids.apim.productId },
      policies(`<base />${otherAudienceRule(ids.tenantId)}`),
    );
    await startWorld();
    const blocked = await waitForAccess("False");
    const c = findCondition(blocked.status?.conditions, "AccessVerified")!;
    expect(c.message).toContain(`validate-jwt at product "${ids.apim.productId}"`);
    expect(findCondition(blocked.status?.conditions, "Ready")?.status).toBe("True");

    // The product's rule goes; only the operator's own rule remains in the chain.
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, productId: ids.apim.productId },
      policies("<base />"),
    );
    await waitForAccess("True");
  });
});
