/**
 * ApimJwtPolicy end to end: the operator in-process against the real kube-apiserver and the Azure emulator.
 * Each test gets a fresh namespace, a freshly seeded emulator world and its own operator watching only that
 * namespace. Assertions are on the world: the document APIM stores (rawxml), our fragment, and the object's
 * conditions as kubectl shows them.
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
import { fragmentId as fragmentIdOf } from "../../src/azure/naming.ts";
import { BINDING_RESOURCE } from "../../src/controllers/binding/reconciler.ts";
import { JWT_POLICY_RESOURCE } from "../../src/controllers/jwt-policy/reconciler.ts";
import { KubeClient, isNotFound } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { freshNamespace, kubeConfig, kubectl, waitUntil } from "../support/kube.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { startTestOperator } from "../support/operator.ts";

/** What a platform team already has on the API: rate limit, a header with a C# expression holding `<`, a comment. */
const FOREIGN =
  "<policies>\r\n" +
  "    <inbound>\r\n" +
  "        <base />\r\n" +
  "        <!-- platform: keep the rate limit first -->\r\n" +
  '        <rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Subscription?.Key ?? &quot;anon&quot;)" />\r\n' +
  '        <set-header name="x-tier" exists-action="override">\r\n' +
  '            <value>@(context.Request.Headers.GetValueOrDefault("x-size","0").Length < 3 ? "small" : "large")</value>\r\n' +
  "        </set-header>\r\n" +
  "    </inbound>\r\n" +
  "    <backend>\r\n" +
  "        <base />\r\n" +
  "    </backend>\r\n" +
  "    <outbound>\r\n" +
  "        <base />\r\n" +
  "    </outbound>\r\n" +
  "    <on-error>\r\n" +
  "        <base />\r\n" +
  "    </on-error>\r\n" +
  "</policies>";

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
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "jwt");
  // Tenancy is enforced: the namespace's policy allows what the scenario does (the normal path).
  await applyAccessPolicy(client, scenarioPolicy(ns, ids));
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  await deleteAccessPolicy(client, `scenario-${ns}`);
});

async function startOperator(resync = "2s"): Promise<Manager> {
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns,
    emulator: emu,
    resync,
    replicationPollMs: 500,
  });
  return manager;
}

const apiTarget = () => ({ serviceId: ids.apim.serviceId, apiId: ids.apim.apiId });

function bindingBody(name: string): LogicAppIdentityBinding {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: BINDING_KIND,
    metadata: { name, namespace: ns },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
    },
  };
}

function policyBody(name: string, spec: Partial<ApimJwtPolicy["spec"]>): ApimJwtPolicy {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: JWT_POLICY_KIND,
    metadata: { name, namespace: ns },
    spec: { apimServiceId: ids.apim.serviceId, target: { apiId: ids.apim.apiId }, ...spec },
  };
}

/** UIDs of the policies this test created: the fragment ID hashes namespace, name and UID (ADR 0014). */
const uids = new Map<string, string>();

async function createPolicy(body: ApimJwtPolicy): Promise<ApimJwtPolicy> {
  const created = await client.create<ApimJwtPolicy>(JWT_POLICY_RESOURCE, ns, body);
  uids.set(`${ns}/${body.metadata.name}`, created.metadata.uid!);
  return created;
}

function fragmentId(namespace: string, name: string): string {
  const uid = uids.get(`${namespace}/${name}`);
  if (!uid) throw new Error(`no UID known for ${namespace}/${name}`);
  return fragmentIdOf(namespace, name, uid);
}

/**
 * Waits until no APIM request (of `operation`, or any) arrived for `ms`: the passes that follow a first apply (the
 * finalizer's own watch event, a status write retried after a stale cache) are over, so what a test measures next
 * is the steady cadence rather than the startup.
 */
async function quiet(operation?: string, ms = 700): Promise<void> {
  const count = async () => (await emu.control.requestLog(operation ? { operation } : {})).length;
  let last = await count();
  let since = Date.now();
  await waitUntil(
    "APIM quiet",
    async () => {
      const now = await count();
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      return Date.now() - since >= ms;
    },
    15_000,
  );
}

const getPolicyObj = (name: string) =>
  client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, { namespace: ns, name });
const getBinding = (name: string) =>
  client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name });

async function waitForCondition(
  name: string,
  type: string,
  status: string,
  reason?: string,
  timeoutMs = 60_000,
): Promise<ApimJwtPolicy> {
  let last: ApimJwtPolicy | undefined;
  try {
    await waitUntil(
      `${name} ${type}=${status}${reason ? ` (${reason})` : ""}`,
      async () => {
        last = await getPolicyObj(name);
        const c = findCondition(last.status?.conditions, type);
        return c?.status === status && (!reason || c.reason === reason);
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last?.status)}`, { cause: e });
  }
  return last!;
}

async function fragmentXml(name: string): Promise<string | undefined> {
  const all = await emu.control.listPolicyFragments(ids.apim.serviceId);
  return all.find((f) => f.fragmentId === fragmentId(ns, name))?.xml;
}

const includeOf = (name: string) => `<include-fragment fragment-id="${fragmentId(ns, name)}" />`;

/** The seed scenario: binding + policy with bindingRef, Ready through kubectl wait. Returns the principal. */
async function seedScenarioApplied(policyName = "orders-jwt"): Promise<string> {
  await emu.control.putPolicyRaw(apiTarget(), FOREIGN);
  await startOperator();
  await client.create(BINDING_RESOURCE, ns, bindingBody("orders"));
  await createPolicy(policyBody(policyName, { bindingRef: { name: "orders" } }));
  const waited = await kubectl(kubeconfigPath, [
    "wait",
    "-n",
    ns,
    `apimjwtpolicy/${policyName}`,
    "--for=condition=Ready",
    "--timeout=60s",
  ]);
  expect(waited.stderr).toBe("");
  expect(waited.code).toBe(0);
  const binding = await getBinding("orders");
  expect(binding.status?.principalId).toBeTruthy();
  return binding.status!.principalId!;
}

describe("ApimJwtPolicy on the real control plane + emulator", () => {
  it("seed scenario: the binding's principal is pinned in APIM, the rest of the document is untouched, steady state only reads", async () => {
    const principal = await seedScenarioApplied();
    const la = await emu.control.getLogicApp(ids.logicAppId);
    expect(la.identity.principalId).toBe(principal);

    const doc = await emu.control.getPolicyRaw(apiTarget());
    expect(doc).not.toBeNull();
    // One include right after <base />, preceded by the same whitespace; every other byte as it was.
    expect(doc!.xml).toBe(
      FOREIGN.replace("        <base />\r\n", `        <base />\r\n        ${includeOf("orders-jwt")}\r\n`),
    );
    const frag = await fragmentXml("orders-jwt");
    expect(frag).toContain("<audience>api://orders</audience>");
    expect(frag).toContain('<claim name="roles" match="any">');
    expect(frag).toContain("<value>AddRole</value>");
    expect(frag).toContain(`<claim name="oid" match="any">`);
    expect(frag).toContain(`<value>${principal}</value>`);
    expect(frag).toContain(`https://sts.windows.net/${ids.tenantId}/`);

    const obj = await getPolicyObj("orders-jwt");
    expect(obj.metadata.finalizers).toContain(`${GROUP}/cleanup`);
    expect(obj.status).toMatchObject({
      target: `api/${ids.apim.apiId}`,
      fragmentId: fragmentId(ns, "orders-jwt"),
      callerPrincipalId: principal,
    });
    expect(obj.status?.appliedFingerprint).toMatch(/^[0-9a-f]{64}$/);

    const applied = await kubectl(kubeconfigPath, [
      "get",
      "events.events.k8s.io",
      "-n",
      ns,
      "--field-selector",
      "reason=Applied,regarding.name=orders-jwt",
      "-o",
      "jsonpath={.items[*].note}",
    ]);
    expect(applied.stdout).toContain(`caller pinned to ${principal}`);

    // kubectl shows it to a person.
    const got = await kubectl(kubeconfigPath, ["get", "apimjwtpolicies", "-n", ns, "-o", "wide"]);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain("orders-jwt");

    // First apply, from creation to Ready (observed): what it cost in APIM requests.
    const firstApply = (await emu.control.requestLog()).filter((e) =>
      e.path.toLowerCase().includes("microsoft.apimanagement"),
    );
    console.log(
      `first apply: ${firstApply.length} APIM requests: ` +
        Object.entries(
          firstApply.reduce<Record<string, number>>(
            (m, e) => ({ ...m, [e.operation]: (m[e.operation] ?? 0) + 1 }),
            {},
          ),
        )
          .map(([k, v]) => `${k}×${v}`)
          .join(", "),
    );
    expect(firstApply.filter((e) => e.method === "PUT").length).toBe(2); // fragment, then the document

    // Steady state: resync passes read the document and the fragment, and write nothing.
    await emu.control.resetLog();
    const etag = doc!.etag;
    await new Promise((r) => setTimeout(r, 7_000));
    const log = await emu.control.requestLog();
    const apim = log.filter((e) => e.path.toLowerCase().includes("microsoft.apimanagement"));
    const passes = apim.filter((e) => e.operation === "ApiPolicy_Get").length;
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(apim.filter((e) => e.method !== "GET")).toEqual([]);
    const perPass = apim.length / passes;
    console.log(
      `steady state: ${apim.length} APIM requests in ${passes} passes = ${perPass} per pass ` +
        `(${[...new Set(apim.map((e) => e.operation))].join(", ")})`,
    );
    expect(perPass).toBe(2);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.etag).toBe(etag);
  });

  it("identity disabled and re-enabled behind the operator's back: binding heals, the pinned principal follows", async () => {
    const first = await seedScenarioApplied();
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "None" });
    await emu.control.setLogicAppIdentity(ids.logicAppId, { type: "SystemAssigned" });
    const second = (await emu.control.getLogicApp(ids.logicAppId)).identity.principalId!;
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);

    await waitUntil(
      "the fragment pins the new principal",
      async () => {
        const b = await getBinding("orders");
        const f = await fragmentXml("orders-jwt");
        return b.status?.principalId === second && !!f?.includes(`<value>${second}</value>`);
      },
      60_000,
    );
    const frag = (await fragmentXml("orders-jwt"))!;
    expect(frag).not.toContain(first);
    // The status follows once the new rule has been observed in APIM.
    await waitUntil(
      "status pins the new principal and is Ready",
      async () => {
        const o = await getPolicyObj("orders-jwt");
        return (
          o.status?.callerPrincipalId === second &&
          findCondition(o.status?.conditions, "Ready")?.status === "True"
        );
      },
      30_000,
    );
    // Still exactly one include; the rest of the document untouched.
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(
      FOREIGN.replace("        <base />\r\n", `        <base />\r\n        ${includeOf("orders-jwt")}\r\n`),
    );
  });

  it("a portal edit of a foreign element survives; portal removal of our include or fragment edits are repaired", async () => {
    await seedScenarioApplied();
    const applied = (await emu.control.getPolicyRaw(apiTarget()))!.xml;

    // Someone raises the rate limit in the portal: not ours, left alone across several resync passes.
    const edited = applied.replace('calls="10"', 'calls="50"');
    const afterEdit = await emu.control.putPolicyRaw(apiTarget(), edited);
    await emu.control.resetLog();
    await waitUntil(
      "two resync passes",
      async () => (await emu.control.requestLog({ operation: "ApiPolicy_Get" })).length >= 2,
      15_000,
    );
    const now = (await emu.control.getPolicyRaw(apiTarget()))!;
    expect(now.xml).toBe(edited);
    expect(now.etag).toBe(afterEdit.etag);

    // Someone removes our include (and changes something else in the same save): include back, their change kept.
    const removed = edited
      .replace(`        ${includeOf("orders-jwt")}\r\n`, "")
      .replace('calls="50"', 'calls="60"');
    expect(removed).not.toContain("include-fragment");
    await emu.control.putPolicyRaw(apiTarget(), removed);
    await waitUntil(
      "include restored",
      async () => (await emu.control.getPolicyRaw(apiTarget()))!.xml.includes(includeOf("orders-jwt")),
      20_000,
    );
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(
      removed.replace("        <base />\r\n", `        <base />\r\n        ${includeOf("orders-jwt")}\r\n`),
    );

    // Someone weakens our fragment (drops the oid claim): restored.
    const frag = (await fragmentXml("orders-jwt"))!;
    const weakened = frag.replace(/<claim name="oid"[\s\S]*?<\/claim>/, "");
    expect(weakened).not.toContain('name="oid"');
    // A portal edit changes the value; the description (our owner marker) stays as it was.
    const description = (await emu.control.listPolicyFragments(ids.apim.serviceId)).find(
      (f) => f.fragmentId === fragmentId(ns, "orders-jwt"),
    )!.description;
    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: fragmentId(ns, "orders-jwt"),
      xml: weakened,
      description,
    });
    await waitUntil(
      "fragment restored",
      async () => !!(await fragmentXml("orders-jwt"))?.includes('name="oid"'),
      20_000,
    );
    const ev = await kubectl(kubeconfigPath, [
      "get",
      "events.events.k8s.io",
      "-n",
      ns,
      "--field-selector",
      "reason=DriftRepaired",
      "-o",
      "name",
    ]);
    expect(ev.stdout.trim()).not.toBe("");
  });

  it("a concurrent portal save between our read and our write (412) is re-read and merged, not overwritten", async () => {
    await emu.control.putPolicyRaw(apiTarget(), FOREIGN);
    // Hold our PUT long enough for the "portal" to save in between; the emulator then answers 412 on the old ETag.
    await emu.control.injectFault({
      match: { operation: "ApiPolicy_CreateOrUpdate" },
      action: { kind: "latency", ms: 2_000 },
      count: 1,
    });
    await startOperator();
    await createPolicy(
      policyBody("static-jwt", {
        tenantId: ids.tenantId,
        audiences: ["api://orders"],
        requiredRoles: ["AddRole"],
      }),
    );
    await waitUntil(
      "fragment written (the policy PUT is now in flight)",
      async () => !!(await fragmentXml("static-jwt")),
    );
    const portal = FOREIGN.replace(
      "</outbound>",
      '    <set-header name="x-portal" exists-action="override"><value>1</value></set-header>\r\n    </outbound>',
    );
    await emu.control.putPolicyRaw(apiTarget(), portal);

    await waitForCondition("static-jwt", "Ready", "True");
    const doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
    expect(doc).toBe(
      portal.replace("        <base />\r\n", `        <base />\r\n        ${includeOf("static-jwt")}\r\n`),
    );
    const puts = await emu.control.requestLog({ operation: "ApiPolicy_CreateOrUpdate" });
    expect(puts.map((p) => p.status)).toEqual([412, 200]);
  });

  it("deletion gives the document back byte for byte and deletes the fragment; a skeleton the operator created is deleted", async () => {
    await seedScenarioApplied();
    // A second policy at the operation, which had no policy document before.
    const opTarget = { ...apiTarget(), operationId: ids.apim.operationId };
    expect(await emu.control.getPolicyRaw(opTarget)).toBeNull();
    await createPolicy(
      policyBody("op-jwt", {
        target: { apiId: ids.apim.apiId, operationId: ids.apim.operationId },
        tenantId: ids.tenantId,
        audiences: ["api://orders"],
      }),
    );
    await waitForCondition("op-jwt", "Ready", "True");
    expect((await emu.control.getPolicyRaw(opTarget))!.xml).toContain(includeOf("op-jwt"));

    for (const name of ["orders-jwt", "op-jwt"])
      await client.delete(JWT_POLICY_RESOURCE, { namespace: ns, name });
    for (const name of ["orders-jwt", "op-jwt"]) {
      await waitUntil(
        `${name} gone`,
        async () => {
          try {
            await getPolicyObj(name);
            return false;
          } catch (e) {
            return isNotFound(e);
          }
        },
        30_000,
      );
    }
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(FOREIGN);
    expect(await emu.control.getPolicyRaw(opTarget)).toBeNull();
    expect(await emu.control.listPolicyFragments(ids.apim.serviceId)).toEqual([]);
  });

  it("a missing API stalls the object naming the API, and nothing is written", async () => {
    await startOperator();
    await createPolicy(
      policyBody("lost-jwt", {
        target: { apiId: "no-such-api" },
        tenantId: ids.tenantId,
        audiences: ["api://orders"],
      }),
    );
    const w = await kubectl(kubeconfigPath, [
      "wait",
      "-n",
      ns,
      "apimjwtpolicy/lost-jwt",
      "--for=condition=Stalled",
      "--timeout=60s",
    ]);
    expect(w.code).toBe(0);
    const obj = await getPolicyObj("lost-jwt");
    const stalled = findCondition(obj.status?.conditions, "Stalled")!;
    expect(stalled.reason).toBe("TargetNotFound");
    expect(stalled.message).toContain("no-such-api");
    expect(findCondition(obj.status?.conditions, "Ready")?.status).toBe("False");
    expect(await emu.control.listPolicyFragments(ids.apim.serviceId)).toEqual([]);
    const writes = (await emu.control.requestLog()).filter((e) => e.method !== "GET");
    expect(writes).toEqual([]);
  });

  it("a malformed target policy stalls the object with line and column and the document stays untouched, also on deletion", async () => {
    const malformed = FOREIGN.replace("    </backend>", "    </outbound-typo>");
    seedMalformed(apiTarget(), malformed);
    await startOperator();
    await createPolicy(policyBody("bad-jwt", { tenantId: ids.tenantId, audiences: ["api://orders"] }));
    const obj = await waitForCondition("bad-jwt", "Stalled", "True", "TargetPolicyMalformed");
    expect(findCondition(obj.status?.conditions, "Stalled")!.message).toMatch(/line \d+/);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(malformed);
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);

    // Deleting does not write either: the object waits (Stalled) until a person fixes the XML or orphans the rule.
    await client.delete(JWT_POLICY_RESOURCE, { namespace: ns, name: "bad-jwt" });
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await getPolicyObj("bad-jwt")).metadata.deletionTimestamp).toBeTruthy();
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(malformed);
    await client.patch(
      JWT_POLICY_RESOURCE,
      { namespace: ns, name: "bad-jwt" },
      { spec: { deletionPolicy: "Orphan" } },
      "application/merge-patch+json",
    );
    await waitUntil(
      "bad-jwt gone after Orphan",
      async () => {
        try {
          await getPolicyObj("bad-jwt");
          return false;
        } catch (e) {
          return isNotFound(e);
        }
      },
      30_000,
    );
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(malformed);
  });

  it("a policy whose binding is missing stalls naming it, writes nothing, and applies as soon as the binding is Ready (binding watch)", async () => {
    await emu.control.putPolicyRaw(apiTarget(), FOREIGN);
    await startOperator();
    await createPolicy(policyBody("early-jwt", { bindingRef: { name: "late" } }));
    // Stalled, not waiting: a missing binding needs a person (docs/reliability.md, finding 1).
    const waiting = await waitForCondition("early-jwt", "Stalled", "True", "BindingNotFound");
    expect(findCondition(waiting.status?.conditions, "Ready")!.message).toContain("late");
    expect(findCondition(waiting.status?.conditions, "Reconciling")?.status).toBe("False");
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(FOREIGN);

    // The re-check while waiting is a minute away: being Ready well before that means the binding watch woke us.
    const t0 = Date.now();
    await client.create(BINDING_RESOURCE, ns, bindingBody("late"));
    const ready = await waitForCondition("early-jwt", "Ready", "True", undefined, 30_000);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(ready.status?.callerPrincipalId).toBe((await getBinding("late")).status?.principalId);
  });

  it("moving the target takes the include out of the old document byte for byte and installs it at the new one", async () => {
    await emu.control.putPolicyRaw(apiTarget(), FOREIGN);
    await startOperator();
    await createPolicy(policyBody("moving-jwt", { tenantId: ids.tenantId, audiences: ["api://orders"] }));
    await waitForCondition("moving-jwt", "Ready", "True");
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toContain(includeOf("moving-jwt"));

    await client.patch(
      JWT_POLICY_RESOURCE,
      { namespace: ns, name: "moving-jwt" },
      { spec: { target: { apiId: ids.apim.apiId, operationId: ids.apim.operationId } } },
    );
    const opTarget = { ...apiTarget(), operationId: ids.apim.operationId };
    await waitUntil(
      "status names the operation",
      async () => {
        const o = await getPolicyObj("moving-jwt");
        return (
          o.status?.target === `api/${ids.apim.apiId}/operation/${ids.apim.operationId}` &&
          findCondition(o.status?.conditions, "Ready")?.status === "True"
        );
      },
      30_000,
    );
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(FOREIGN);
    expect((await emu.control.getPolicyRaw(opTarget))!.xml).toContain(includeOf("moving-jwt"));
  });

  it("throttling (429 + Retry-After) is waited out by the request budget (never a failed pass), then the change is applied", async () => {
    // No resync here, so the only reasons to look again are the spec change and the Retry-After.
    await emu.control.putPolicyRaw(apiTarget(), FOREIGN);
    await startOperator("0");
    await createPolicy(policyBody("busy-jwt", { tenantId: ids.tenantId, audiences: ["api://orders"] }));
    await waitForCondition("busy-jwt", "Ready", "True", undefined, 30_000);
    await quiet();
    await emu.control.injectFault({
      match: { operation: "PolicyFragment_Get" },
      action: { kind: "status", status: 429, retryAfterSeconds: 2 },
      count: 1,
    });
    await emu.control.resetLog();
    await client.patch(
      JWT_POLICY_RESOURCE,
      { namespace: ns, name: "busy-jwt" },
      { spec: { failedValidation: { message: "Orders: token required" } } },
    );
    await waitUntil(
      "new message applied",
      async () => !!(await fragmentXml("busy-jwt"))?.includes("Orders: token required"),
      30_000,
    );
    const gets = await emu.control.requestLog({ operation: "PolicyFragment_Get" });
    expect(gets[0]!.status).toBe(429);
    const waitedMs = Date.parse(gets[1]!.time) - Date.parse(gets[0]!.time);
    console.log(`429 with Retry-After 2 s: next fragment read after ${waitedMs} ms`);
    expect(waitedMs).toBeGreaterThanOrEqual(1_900);
    // The budget (src/azure/inventory/budget.ts) held the request for Retry-After and sent it again: the pass
    // never saw the 429, so the policy never left Ready.
    const after = await client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, { namespace: ns, name: "busy-jwt" });
    expect(findCondition(after.status?.conditions, "Ready")?.status).toBe("True");
  });

  it("Inline mode: one marked validate-jwt in the document, switching to Fragment mode moves it, deletion restores the bytes", async () => {
    await emu.control.putPolicyRaw(apiTarget(), FOREIGN);
    await startOperator();
    await createPolicy(
      policyBody("inline-jwt", { mode: "Inline", tenantId: ids.tenantId, audiences: ["api://orders"] }),
    );
    await waitForCondition("inline-jwt", "Ready", "True");
    let doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
    expect(doc).toContain(`<!-- laio:ApimJwtPolicy ${ns}/inline-jwt -->`);
    expect(doc.match(/<validate-jwt /g)).toHaveLength(1);
    expect(doc).not.toContain("include-fragment");
    expect(await emu.control.listPolicyFragments(ids.apim.serviceId)).toEqual([]);

    await client.patch(
      JWT_POLICY_RESOURCE,
      { namespace: ns, name: "inline-jwt" },
      { spec: { mode: "Fragment" } },
    );
    await waitUntil(
      "switched to Fragment mode",
      async () => {
        doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
        return doc.includes(includeOf("inline-jwt")) && !doc.includes("validate-jwt");
      },
      30_000,
    );
    expect(doc).toBe(
      FOREIGN.replace("        <base />\r\n", `        <base />\r\n        ${includeOf("inline-jwt")}\r\n`),
    );

    await client.delete(JWT_POLICY_RESOURCE, { namespace: ns, name: "inline-jwt" });
    await waitUntil(
      "inline-jwt gone",
      async () => {
        try {
          await getPolicyObj("inline-jwt");
          return false;
        } catch (e) {
          return isNotFound(e);
        }
      },
      30_000,
    );
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(FOREIGN);
    expect(await emu.control.listPolicyFragments(ids.apim.serviceId)).toEqual([]);
  });

  it("product and global targets: installed next to what is there, removed byte for byte on deletion", async () => {
    const productTarget = { serviceId: ids.apim.serviceId, productId: ids.apim.productId };
    const globalTarget = { serviceId: ids.apim.serviceId };
    const productDoc =
      '<policies>\n  <inbound>\n    <base />\n    <quota calls="100" renewal-period="3600" />\n  </inbound>\n' +
      "  <backend>\n    <base />\n  </backend>\n  <outbound>\n    <base />\n  </outbound>\n  <on-error>\n    <base />\n  </on-error>\n</policies>";
    // The global scope has no <base />: the include goes first in inbound.
    const globalDoc =
      '<policies>\n  <inbound>\n    <cors allow-credentials="false">\n      <allowed-origins>\n        <origin>*</origin>\n      </allowed-origins>\n    </cors>\n  </inbound>\n' +
      "  <backend>\n    <forward-request />\n  </backend>\n  <outbound />\n  <on-error />\n</policies>";
    await emu.control.putPolicyRaw(productTarget, productDoc);
    await emu.control.putPolicyRaw(globalTarget, globalDoc);
    await startOperator();
    const common = { tenantId: ids.tenantId, audiences: ["api://orders"], requiredRoles: ["AddRole"] };
    await createPolicy(policyBody("product-jwt", { ...common, target: { productId: ids.apim.productId } }));
    await createPolicy(policyBody("global-jwt", { ...common, target: {} }));
    const product = await waitForCondition("product-jwt", "Ready", "True");
    const global = await waitForCondition("global-jwt", "Ready", "True");
    expect(product.status?.target).toContain(ids.apim.productId);
    expect(global.status?.target).toBeTruthy();

    const p = (await emu.control.getPolicyRaw(productTarget))!.xml;
    expect(p).toBe(
      productDoc.replace(
        "    <base />\n    <quota",
        `    <base />\n    ${includeOf("product-jwt")}\n    <quota`,
      ),
    );
    const g = (await emu.control.getPolicyRaw(globalTarget))!.xml;
    expect(g).toContain(includeOf("global-jwt"));
    expect(g.indexOf(includeOf("global-jwt"))).toBeLessThan(g.indexOf("<cors"));
    expect(g.replace(/\s*<include-fragment[^>]*\/>/, "")).toBe(globalDoc);

    for (const name of ["product-jwt", "global-jwt"]) {
      await client.delete(JWT_POLICY_RESOURCE, { namespace: ns, name });
      await waitUntil(
        `${name} gone`,
        async () =>
          getPolicyObj(name).then(
            () => false,
            (e) => isNotFound(e),
          ),
        30_000,
      );
    }
    expect((await emu.control.getPolicyRaw(productTarget))!.xml).toBe(productDoc);
    expect((await emu.control.getPolicyRaw(globalTarget))!.xml).toBe(globalDoc);
  });

  it("access denied on a write stalls the object (AccessDenied) instead of retrying hot", async () => {
    await emu.control.injectFault({
      match: { operation: "PolicyFragment_CreateOrUpdate" },
      action: { kind: "status", status: 403, code: "AuthorizationFailed", message: "no write access" },
    });
    await startOperator();
    await createPolicy(policyBody("denied-jwt", { tenantId: ids.tenantId, audiences: ["api://orders"] }));
    const obj = await waitForCondition("denied-jwt", "Stalled", "True", "AccessDenied");
    expect(findCondition(obj.status?.conditions, "Stalled")!.message).toContain("no write access");
    expect(findCondition(obj.status?.conditions, "Ready")?.status).toBe("False");
    // Once Stalled, at most one attempt per resync pass (2 s here), not a hot retry loop.
    await quiet("PolicyFragment_CreateOrUpdate", 1_000);
    const atStall = (await emu.control.requestLog({ operation: "PolicyFragment_CreateOrUpdate" })).length;
    await new Promise((r) => setTimeout(r, 4_000));
    const attempts = await emu.control.requestLog({ operation: "PolicyFragment_CreateOrUpdate" });
    expect(attempts.length - atStall).toBeLessThanOrEqual(2);
    expect(await emu.control.getPolicyRaw(apiTarget())).toBeNull();
  });
});

/**
 * The control API stores only documents the emulated APIM accepts (it parses them, as APIM does), so a document the
 * operator must refuse to edit is put straight into the in-process world.
 */
function seedMalformed(target: { serviceId: string; apiId: string }, xml: string): void {
  const svc = emu.runtime.state.apimServices[target.serviceId.toLowerCase()];
  if (!svc) throw new Error(`no APIM service ${target.serviceId} in the emulator`);
  svc.policies[`apis/${target.apiId.toLowerCase()}`] = { raw: xml, etag: `"malformed-${Date.now()}"` };
}
