/**
 * ApiRegistration end to end: the operator in-process against the real kube-apiserver and the emulator's Graph
 * (`/applications`, `/servicePrincipals`, the rules of ADR 0017). Assertions are on the world: the applications the
 * emulator holds, its request log, the APIM fragment XML and what the API server shows.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  API_REGISTRATION_KIND,
  BINDING_KIND,
  GROUP,
  JWT_POLICY_KIND,
  VERSION,
  findCondition,
  type ApiRegistration,
  type ApiRegistrationSpec,
  type ApimJwtPolicy,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { fragmentId } from "../../src/azure/naming.ts";
import {
  API_REGISTRATION_RESOURCE,
  BINDING_RESOURCE,
  JWT_POLICY_RESOURCE,
} from "../../src/controllers/resources.ts";
import { KubeClient, isNotFound } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { CONFIGMAP, RECORD_KIND_LABEL } from "../../src/runtime/records.ts";
import { REGISTRATION_CLAIM_KIND } from "../../src/controllers/api-registration/kind.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { freshNamespace, kubeConfig, kubectl, waitUntil } from "../support/kube.ts";
import { startTestOperator } from "../support/operator.ts";

let kubeconfigPath: string;
let emu: RunningEmulator;
let client: KubeClient;
let ns: string;
let recordsNs: string;
let ids: ScenarioIds;
let manager: Manager | undefined;
let uri: string;

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
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "apireg");
  recordsNs = await freshNamespace(kubeConfig(kubeconfigPath), "records");
  uri = `api://inventory-${ns}`;
  const policy = scenarioPolicy(ns, ids);
  await applyAccessPolicy(client, {
    ...policy,
    spec: {
      ...policy.spec,
      apis: [...(policy.spec.apis ?? []), { api: uri, appRoles: ["*"] }],
      apiRegistrations: { identifierUriPrefixes: [uri] },
    },
  });
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

function spec(over: Partial<ApiRegistrationSpec> = {}): ApiRegistrationSpec {
  return {
    displayName: "Inventory API",
    identifierUris: [uri],
    appRoles: [{ value: "AddRole", displayName: "Add items" }],
    ...over,
  };
}

async function createRegistration(name: string, s: ApiRegistrationSpec): Promise<void> {
  const body: ApiRegistration = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: API_REGISTRATION_KIND,
    metadata: { name, namespace: ns },
    spec: s,
  };
  await client.create(API_REGISTRATION_RESOURCE, ns, body);
}

async function updateSpec(
  name: string,
  change: (s: ApiRegistrationSpec) => ApiRegistrationSpec,
): Promise<void> {
  const current = await getRegistration(name);
  await client.replace(
    API_REGISTRATION_RESOURCE,
    { namespace: ns, name },
    { ...current, spec: change(current.spec) },
  );
}

const getRegistration = (name: string) =>
  client.get<ApiRegistration>(API_REGISTRATION_RESOURCE, { namespace: ns, name });

async function waitFor<
  T extends { status?: { conditions?: { type: string; status: string; reason: string }[] } },
>(what: string, read: () => Promise<T>, check: (o: T) => boolean, timeoutMs = 30_000): Promise<T> {
  let last: T | undefined;
  await waitUntil(
    what,
    async () => {
      last = await read();
      return check(last);
    },
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
  });
  return last!;
}

const ready = (o: { status?: { conditions?: { type: string; status: string }[] } }) =>
  findCondition(o.status?.conditions as never, "Ready")?.status === "True";
const stalledWith =
  (reason: string) =>
  (o: { status?: { conditions?: { type: string; status: string; reason: string }[] } }) => {
    const c = findCondition(o.status?.conditions as never, "Stalled");
    return c?.status === "True" && c.reason === reason;
  };

const claims = async () =>
  (
    await client.list<{ metadata: { name: string } }>(CONFIGMAP, recordsNs, {
      labelSelector: `${RECORD_KIND_LABEL}=${REGISTRATION_CLAIM_KIND}`,
    })
  ).items.map((c) => c.metadata.name);

/** The binding "orders" on the scenario's Logic App, granting AddRole on the API a reference or an `api` names. */
function ordersBinding(
  grant: { apiRegistrationRef: { name: string } } | { api: string },
): LogicAppIdentityBinding {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: BINDING_KIND,
    metadata: { name: "orders", namespace: ns },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      appRoleAssignments: [{ ...grant, appRole: "AddRole" }],
    },
  };
}

/** Creates the ApimJwtPolicy "orders-jwt" pinned to the binding "orders"; returns a reader of its fragment's XML. */
async function createOrdersPolicy(): Promise<() => Promise<string>> {
  const created = await client.create<ApimJwtPolicy>(JWT_POLICY_RESOURCE, ns, {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: JWT_POLICY_KIND,
    metadata: { name: "orders-jwt", namespace: ns },
    spec: {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: ids.apim.apiId },
      bindingRef: { name: "orders" },
    },
  });
  const fid = fragmentId(ns, "orders-jwt", created.metadata.uid!);
  return async () =>
    (await emu.control.listPolicyFragments(ids.apim.serviceId)).find((f) => f.fragmentId === fid)?.xml ?? "";
}

/** The live application answering to an identifier URI, as the emulator holds it (every property). */
async function appByUri(u: string) {
  return Object.values((await emu.control.state()).applications).find(
    (a) => a.identifierUris.includes(u) && !a.deletedDateTime,
  );
}

describe("ApiRegistration on a real API server and the emulator's Graph", () => {
  it("creates the application and its service principal, Ready with the ids in status and kubectl columns", async () => {
    await createRegistration("inventory", spec());
    const reg = await waitFor(
      "registration Ready",
      () => getRegistration("inventory"),
      (r) => ready(r) && !!r.status?.servicePrincipalId,
    );
    const app = await appByUri(uri);
    expect(app).toBeDefined();
    expect(reg.status).toMatchObject({
      appId: app!.appId,
      objectId: app!.id,
      identifierUris: [uri],
      tokenVersion: 1,
      tenantId: ids.tenantId,
      appRoles: [{ value: "AddRole", enabled: true, id: app!.appRoles[0]!.id }],
    });
    expect(app!.requestedAccessTokenVersion).toBe(1);
    const sps = (await emu.control.state()).servicePrincipals;
    expect(
      Object.values(sps).some((sp) => sp.appId === app!.appId && sp.id === reg.status!.servicePrincipalId),
    ).toBe(true);
    expect(await claims()).toHaveLength(1);
    const out = await kubectl(kubeconfigPath, ["get", "apireg", "-n", ns, "inventory"]);
    expect(out.stdout).toMatch(/AppId\s+Ready/i);
    expect(out.stdout).toContain(app!.appId);
  });

  it("adds, renames, disables and removes app roles; removal is a disable PATCH and then a remove PATCH", async () => {
    await createRegistration("inventory", spec());
    const first = await waitFor(
      "Ready",
      () => getRegistration("inventory"),
      (r) => ready(r) && !!r.status?.servicePrincipalId,
    );
    const addId = first.status!.appRoles![0]!.id;

    await updateSpec("inventory", (s) => ({
      ...s,
      appRoles: [...(s.appRoles ?? []), { value: "ReadRole", displayName: "Read items" }],
    }));
    await waitFor(
      "two roles",
      () => getRegistration("inventory"),
      (r) => ready(r) && r.status?.appRoles?.length === 2,
    );

    await updateSpec("inventory", (s) => ({
      ...s,
      appRoles: s.appRoles!.map((r) =>
        r.value === "AddRole" ? { ...r, displayName: "Add inventory items" } : r,
      ),
    }));
    await waitUntil(
      "renamed",
      async () =>
        (await appByUri(uri))?.appRoles.find((r) => r.value === "AddRole")?.displayName ===
        "Add inventory items",
      30_000,
    );
    // The id is derived from the value: a display-name change keeps it (grants point at the id).
    expect((await appByUri(uri))!.appRoles.find((r) => r.value === "AddRole")!.id).toBe(addId);

    await updateSpec("inventory", (s) => ({
      ...s,
      appRoles: s.appRoles!.map((r) => (r.value === "ReadRole" ? { ...r, enabled: false } : r)),
    }));
    await waitUntil(
      "disabled",
      async () => (await appByUri(uri))?.appRoles.find((r) => r.value === "ReadRole")?.isEnabled === false,
      30_000,
    );

    // Remove AddRole (enabled): Graph refuses a one-step removal, so two PATCHes reach the emulator.
    await waitFor("Ready again", () => getRegistration("inventory"), ready);
    const log = await emu.control.requestLog({ operation: "Applications_Update" });
    const since = log.at(-1)?.seq ?? 0;
    await updateSpec("inventory", (s) => ({
      ...s,
      appRoles: s.appRoles!.filter((r) => r.value !== "AddRole"),
    }));
    await waitUntil(
      "AddRole removed",
      async () => !(await appByUri(uri))?.appRoles.some((r) => r.value === "AddRole"),
      30_000,
    );
    const patches = (await emu.control.requestLog({ operation: "Applications_Update", since })).filter(
      (e) => e.status === 204,
    );
    expect(patches.length).toBe(2);
    const refused = (await emu.control.requestLog({ operation: "Applications_Update", since })).filter(
      (e) => e.status === 400,
    );
    expect(refused).toEqual([]);
    const app = (await appByUri(uri))!;
    expect(app.appRoles.map((r) => [r.value, r.isEnabled])).toEqual([["ReadRole", false]]);
  });

  it("a binding referencing the registration becomes Ready once the service principal replicates; v2 moves the JWT rule to the client id and v2 issuer", async () => {
    await emu.control.setConfig({ applicationReplicationDelayMs: 1500 });
    await createRegistration("inventory", spec());
    await client.create(BINDING_RESOURCE, ns, ordersBinding({ apiRegistrationRef: { name: "inventory" } }));
    const reg = await waitFor(
      "registration Ready",
      () => getRegistration("inventory"),
      (r) => ready(r) && !!r.status?.servicePrincipalId,
      30_000,
    );
    const b = await waitFor(
      "binding Ready",
      () => client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name: "orders" }),
      ready,
      40_000,
    );
    const assignments = Object.values((await emu.control.state()).appRoleAssignments).filter(
      (a) => a.resourceId === reg.status!.servicePrincipalId && a.principalId === b.status!.principalId,
    );
    expect(assignments.map((a) => a.appRoleId)).toEqual([reg.status!.appRoles![0]!.id]);

    const xml = await createOrdersPolicy();
    await waitUntil("v1 rule", async () => (await xml()).includes(`<audience>${uri}</audience>`), 30_000);
    expect(await xml()).toContain(`<issuer>https://sts.windows.net/${ids.tenantId}/</issuer>`);
    expect(await xml()).not.toContain("/v2.0</issuer>");

    await updateSpec("inventory", (s) => ({ ...s, requestedAccessTokenVersion: 2 }));
    await waitUntil(
      "v2 rule",
      async () => (await xml()).includes(`<audience>${reg.status!.appId}</audience>`),
      30_000,
    );
    const v2 = await xml();
    expect(v2).toContain(`<issuer>https://login.microsoftonline.com/${ids.tenantId}/v2.0</issuer>`);
    expect(v2).not.toContain(`<audience>${uri}</audience>`);
    expect((await appByUri(uri))!.requestedAccessTokenVersion).toBe(2);
  });

  it("a JWT policy whose binding names the API by URI (no reference) is re-checked when the registration moves to v2, not at its resync", async () => {
    // A 10-minute resync: only the registration watch can move the rule within the wait below.
    await manager?.stop();
    manager = await startTestOperator({
      kubeconfigPath,
      namespace: ns,
      emulator: emu,
      recordsNamespace: recordsNs,
      resync: "10m",
    });
    await createRegistration("inventory", spec());
    const reg = await waitFor(
      "registration Ready",
      () => getRegistration("inventory"),
      (r) => ready(r) && !!r.status?.servicePrincipalId,
      30_000,
    );
    await client.create(BINDING_RESOURCE, ns, ordersBinding({ api: uri }));
    await waitFor(
      "binding Ready",
      () => client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name: "orders" }),
      ready,
      40_000,
    );
    const xml = await createOrdersPolicy();
    await waitUntil("v1 rule", async () => (await xml()).includes(`<audience>${uri}</audience>`), 30_000);
    const policy = () =>
      client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, { namespace: ns, name: "orders-jwt" });
    const accessVerified = (p: ApimJwtPolicy) =>
      findCondition(p.status?.conditions as never, "AccessVerified");
    await waitFor(
      "access verified for v1 tokens",
      policy,
      (p) => accessVerified(p)?.status === "True",
      30_000,
    );

    // v2: tokens now carry the appId and the v2 issuer. The rule keeps the audience the binding names (a grant by
    // URI is not moved by a registration), and the access check, which takes the token version from the
    // registration's status, must say at once that such tokens are refused.
    await updateSpec("inventory", (s) => ({ ...s, requestedAccessTokenVersion: 2 }));
    await waitFor(
      "registration at v2",
      () => getRegistration("inventory"),
      (r) => r.status?.tokenVersion === 2,
    );
    const refused = await waitFor(
      "access refused for v2 tokens",
      policy,
      (p) => accessVerified(p)?.status === "False",
      30_000,
    );
    expect(accessVerified(refused)?.message).toContain(reg.status!.appId!);
  });

  it("adopting an application the operator does not own is Stalled, naming Application.ReadWrite.OwnedBy, and changes nothing", async () => {
    await emu.control.seedApplication({
      displayName: "Someone else's",
      identifierUris: [uri],
      appRoles: [{ value: "Other" }],
    });
    await createRegistration("inventory", spec());
    const reg = await waitFor(
      "Stalled NotOwner",
      () => getRegistration("inventory"),
      stalledWith("NotOwner"),
    );
    expect(findCondition(reg.status?.conditions, "Stalled")?.message).toContain(
      "Application.ReadWrite.OwnedBy",
    );
    const app = (await appByUri(uri))!;
    expect(app.displayName).toBe("Someone else's");
    expect(app.appRoles.map((r) => r.value)).toEqual(["Other"]);
  });

  it("another object naming the same identifier URI cannot take the application over", async () => {
    await createRegistration("inventory", spec());
    const first = await waitFor(
      "Ready",
      () => getRegistration("inventory"),
      (r) => ready(r) && !!r.status?.servicePrincipalId,
    );
    await createRegistration("impostor", spec({ displayName: "Taken over", appRoles: [] }));
    const second = await waitFor(
      "Stalled ApplicationClaimed",
      () => getRegistration("impostor"),
      stalledWith("ApplicationClaimed"),
    );
    expect(findCondition(second.status?.conditions, "Stalled")?.message).toContain(`${ns}/inventory`);
    const app = (await appByUri(uri))!;
    expect(app.appId).toBe(first.status!.appId);
    expect(app.displayName).toBe("Inventory API");
    expect(app.appRoles.map((r) => r.value)).toEqual(["AddRole"]);
  });

  it("an identifier URI outside the policy's prefixes is refused before Graph is written", async () => {
    await createRegistration("elsewhere", spec({ identifierUris: [`${uri}-admin`] }));
    const reg = await waitFor(
      "Stalled NotAllowed",
      () => getRegistration("elsewhere"),
      stalledWith("NotAllowed"),
    );
    expect(findCondition(reg.status?.conditions, "Stalled")?.message).toContain(
      "spec.apiRegistrations.identifierUriPrefixes",
    );
    expect(await appByUri(`${uri}-admin`)).toBeUndefined();
    expect(await emu.control.requestLog({ operation: "Applications_Create" })).toEqual([]);
  });

  it("deletionPolicy Delete is refused while a binding grants one of its roles, and deletes once it is gone", async () => {
    await createRegistration("inventory", spec({ deletionPolicy: "Delete" }));
    await waitFor(
      "Ready",
      () => getRegistration("inventory"),
      (r) => ready(r) && !!r.status?.servicePrincipalId,
    );
    await client.create(BINDING_RESOURCE, ns, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: BINDING_KIND,
      metadata: { name: "orders", namespace: ns },
      spec: {
        logicAppId: ids.logicAppId,
        identity: { type: "SystemAssigned" },
        appRoleAssignments: [{ apiRegistrationRef: { name: "inventory" }, appRole: "AddRole" }],
      },
    } satisfies LogicAppIdentityBinding);
    await waitFor(
      "binding Ready",
      () => client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name: "orders" }),
      ready,
      40_000,
    );

    await client.delete(API_REGISTRATION_RESOURCE, { namespace: ns, name: "inventory" });
    const blocked = await waitFor(
      "Delete refused",
      () => getRegistration("inventory"),
      stalledWith("RolesStillGranted"),
    );
    expect(findCondition(blocked.status?.conditions, "Stalled")?.message).toContain(`${ns}/orders`);
    expect(await appByUri(uri)).toBeDefined();

    await client.delete(BINDING_RESOURCE, { namespace: ns, name: "orders" });
    await waitUntil(
      "registration gone",
      () =>
        getRegistration("inventory").then(
          () => false,
          (e) => isNotFound(e),
        ),
      40_000,
    );
    expect(await appByUri(uri)).toBeUndefined();
    // Its claim went with the finalizer: nothing in the records namespace still names the application.
    expect(await claims()).toEqual([]);
    expect(
      (await emu.control.listApplications()).find((a) => a.identifierUris.includes(uri))?.deletedDateTime,
    ).toBeTruthy();
  });
});
