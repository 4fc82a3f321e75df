/**
 * gatherAccess over the real adapters (ApimChainPort, ApimPort, GraphPort, ApplicationPort) against the emulator:
 * what it reads is what the emulated tenant holds (roles assigned in Graph, the API app's token version, products,
 * operations, fragments), and the verdict follows from it.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import type {
  ApiRegistration,
  ApiRegistrationStatus,
  AppRoleAssignmentSpec,
  JwtPolicySpec,
  LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { bindingFacts } from "../../src/controllers/jwt-policy/gather.ts";
import { decideAccess } from "../../src/controllers/jwt-policy/access/decide-verdicts.ts";
import { gatherAccess, type AccessPorts } from "../../src/controllers/jwt-policy/access/gather-access.ts";
import type { BindingFacts } from "../../src/controllers/jwt-policy/decide.ts";

let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AccessPorts;
let principalId: string;

useEmulator({}, (env) => {
  ({ emu, ids } = env);
  const p = env.ports;
  ports = { apim: p.apim, chain: p.apimChain, graph: p.graph, applications: p.applications };
});
beforeEach(async () => {
  const sp = await emu.control.seedServicePrincipal({ displayName: "orders-workflow-identity" });
  principalId = sp.id;
  await emu.control.seedAppRoleAssignment({
    resourceId: ids.ordersApi.servicePrincipalId,
    principalId,
    appRoleId: ids.ordersApi.appRoles.ReadRole,
  });
});

const binding = (): BindingFacts => ({
  name: "orders",
  ready: true,
  principalId,
  tenantId: ids.tenantId,
  audiences: [ids.ordersApi.identifierUri],
  roles: ["AddRole"],
});
const spec = (): JwtPolicySpec => ({
  apimServiceId: ids.apim.serviceId,
  target: { apiId: ids.apim.apiId },
});
const app = (version: 1 | 2 | null) =>
  emu.control.seedApplication({
    displayName: "orders-api",
    appId: ids.ordersApi.appId,
    identifierUris: [ids.ordersApi.identifierUri],
    requestedAccessTokenVersion: version,
  });
const jwt = (aud: string, role: string) =>
  `<policies><inbound><base /><validate-jwt header-name="Authorization">` +
  `<openid-config url="https://login.microsoftonline.com/${ids.tenantId}/v2.0/.well-known/openid-configuration" />` +
  `<audiences><audience>${aud}</audience></audiences>` +
  `<issuers><issuer>https://sts.windows.net/${ids.tenantId}/</issuer><issuer>https://login.microsoftonline.com/${ids.tenantId}/v2.0</issuer></issuers>` +
  `<required-claims><claim name="roles" match="any"><value>${role}</value></claim></required-claims>` +
  `</validate-jwt></inbound></policies>`;

const boundBinding = (appRoleAssignments: AppRoleAssignmentSpec[]): LogicAppIdentityBinding => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "LogicAppIdentityBinding",
  metadata: { name: "orders", namespace: "team-a" },
  spec: { logicAppId: ids.logicAppId, identity: { type: "SystemAssigned" }, appRoleAssignments },
  status: { principalId, tenantId: ids.tenantId },
});
const registration = (name: string, status: ApiRegistrationStatus): ApiRegistration => ({
  apiVersion: "identity.logicapp.dev/v1alpha1",
  kind: "ApiRegistration",
  metadata: { name, namespace: "team-a" },
  spec: { displayName: name, identifierUris: [ids.ordersApi.identifierUri] },
  status,
});

describe("gatherAccess", () => {
  it("roles are those Graph holds, not those the spec asks for", async () => {
    await app(null);
    const obs = await gatherAccess(spec(), binding(), ports);
    expect(obs.kind).toBe("observed");
    if (obs.kind !== "observed") return;
    expect(obs.tokens).toEqual([
      expect.objectContaining({
        version: 1,
        roles: ["ReadRole"],
        apiAppId: ids.ordersApi.appId,
        requestedResource: "api://orders",
      }),
    ]);
    expect(obs.evaluated.map((o) => o.operation)).toEqual([`${ids.apim.apiId}/${ids.apim.operationId}`]);

    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId },
      jwt("api://orders", "AddRole"),
    );
    const r = decideAccess(await gatherAccess(spec(), binding(), ports), undefined);
    expect(r.condition.status).toBe("False");
    expect(r.condition.message).toContain('claim "roles"');
  });

  it("the API app's v2 token version makes aud the appId", async () => {
    await app(2);
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId },
      jwt("api://orders", "ReadRole"),
    );
    const r = decideAccess(await gatherAccess(spec(), binding(), ports), undefined);
    expect(r.condition.status).toBe("False");
    expect(r.condition.message).toContain(ids.ordersApi.appId);

    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId },
      jwt(ids.ordersApi.appId, "ReadRole"),
    );
    expect(decideAccess(await gatherAccess(spec(), binding(), ports), undefined).condition.status).toBe(
      "True",
    );
  });

  it("products the API is in and included fragments are read into the chain", async () => {
    await app(null);
    await emu.control.seedApimProductApi({
      serviceId: ids.apim.serviceId,
      productId: ids.apim.productId,
      apiId: ids.apim.apiId,
    });
    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: "gold-auth",
      xml: `<fragment><return-response /></fragment>`,
    });
    await emu.control.putPolicyRaw(
      { serviceId: ids.apim.serviceId, productId: ids.apim.productId },
      `<policies><inbound><base /><include-fragment fragment-id="gold-auth" /></inbound></policies>`,
    );
    const obs = await gatherAccess(spec(), binding(), ports);
    const r = decideAccess(obs, undefined);
    expect(r.condition.status).toBe("False");
    expect(r.condition.message).toContain(
      `return-response at product "${ids.apim.productId}" (fragment "gold-auth")`,
    );
  });

  it("an API an ApiRegistration declares takes its token version from the registration, not from Graph", async () => {
    // No application in Graph at all: without the registration's facts the check would be Unknown.
    await emu.control.resetLog();
    const facts = bindingFacts(
      "orders",
      boundBinding([{ api: ids.ordersApi.appId, appRole: "AddRole" }]),
      undefined,
      () => [
        registration("orders-api", {
          appId: ids.ordersApi.appId,
          identifierUris: [ids.ordersApi.identifierUri],
          tokenVersion: 2,
        }),
      ],
    );
    expect(facts.registered).toEqual([
      {
        registration: "team-a/orders-api",
        appId: ids.ordersApi.appId,
        identifierUris: [ids.ordersApi.identifierUri],
        tokenVersion: 2,
      },
    ]);
    const obs = await gatherAccess(spec(), facts, ports);
    expect(obs.kind).toBe("observed");
    if (obs.kind !== "observed") return;
    expect(obs.tokens).toEqual([
      expect.objectContaining({
        version: 2,
        apiAppId: ids.ordersApi.appId,
        requestedResource: ids.ordersApi.appId,
      }),
    ]);
    expect((await emu.control.requestLog()).filter((e) => /\/applications/i.test(e.path))).toEqual([]);
  });

  it("a grant by apiRegistrationRef uses the referenced registration's status (v1: aud is its identifier URI)", async () => {
    const facts = bindingFacts(
      "orders",
      boundBinding([{ apiRegistrationRef: { name: "orders-api" }, appRole: "AddRole" }]),
      (name) =>
        name === "orders-api"
          ? registration("orders-api", {
              appId: ids.ordersApi.appId,
              identifierUris: [ids.ordersApi.identifierUri],
              tokenVersion: 1,
            })
          : undefined,
    );
    expect(facts.audiences).toEqual([ids.ordersApi.identifierUri]);
    const obs = await gatherAccess(spec(), facts, ports);
    if (obs.kind !== "observed") throw new Error(JSON.stringify(obs));
    expect(obs.tokens).toEqual([
      expect.objectContaining({ version: 1, requestedResource: ids.ordersApi.identifierUri }),
    ]);
    // A registration without an appId yet (not reconciled) says nothing: the application is read in Graph.
    const unknown = bindingFacts(
      "orders",
      boundBinding([{ apiRegistrationRef: { name: "orders-api" }, appRole: "AddRole" }]),
      () => registration("orders-api", {}),
    );
    expect(unknown.registered).toBeUndefined();
  });

  it("no application readable for the API: Unknown, with why", async () => {
    const obs = await gatherAccess(spec(), binding(), ports);
    expect(obs).toMatchObject({ kind: "unavailable", reason: "TokenNotComputed" });
  });

  it("a global target is not evaluated", async () => {
    await app(null);
    const obs = await gatherAccess({ apimServiceId: ids.apim.serviceId }, binding(), ports);
    expect(obs).toMatchObject({ kind: "unavailable", reason: "TargetNotEvaluated" });
  });
});
