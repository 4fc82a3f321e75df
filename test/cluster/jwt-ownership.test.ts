/**
 * Issue 11 for ApimJwtPolicy, on the real API server with the emulator: fragment IDs that cannot collide, the owner
 * checked on the fragment before every write, status that is only a report, create-only and If-Match writes, and
 * the migration of legacy fragment IDs (ADR 0014). Every test ends with the ownership invariants
 * (test/support/invariants.ts): nothing foreign changed, no operator fragment without a record.
 */
import * as k8s from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  GROUP,
  JWT_POLICY_KIND,
  VERSION,
  findCondition,
  type ApimJwtPolicy,
} from "../../src/api/v1alpha1/index.ts";
import { fragmentId, fragmentOwnerMarker, legacyFragmentId } from "../../src/azure/naming.ts";
import { fragmentDescription } from "../../src/controllers/jwt-policy/decide.ts";
import { JWT_POLICY_RESOURCE } from "../../src/controllers/resources.ts";
import { createOwnershipStores } from "../../src/controllers/shared/ownership-store.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { checkInvariants, snapshotForeign, type ForeignSnapshot } from "../support/invariants.ts";
import { freshNamespace, kubeConfig, waitUntil } from "../support/kube.ts";
import { applyAccessPolicy, deleteScenarioPolicies, scenarioPolicy } from "../support/access-policy.ts";
import { startTestOperator } from "../support/operator.ts";

const BASE =
  "<policies>\r\n    <inbound>\r\n        <base />\r\n" +
  '        <rate-limit calls="10" renewal-period="60" />\r\n' +
  "    </inbound>\r\n    <backend>\r\n        <base />\r\n    </backend>\r\n" +
  "    <outbound>\r\n        <base />\r\n    </outbound>\r\n</policies>";

let kubeconfigPath: string;
let client: KubeClient;
let emu: RunningEmulator;
let ids: ScenarioIds;
let manager: Manager | undefined;
/** `<p>` and `<p>-a`: `<p>-a/orders`, `<p>/a-orders` and `<p>/a.orders` shared one legacy fragment ID. */
let nsA: string;
let nsB: string;
let recordsNs: string;
let snapshot: ForeignSnapshot;
let converged: boolean;

const sources = () => ({ emulator: emu.control, kube: client, recordsNamespace: recordsNs });

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  client = new KubeClient(kubeConfig(kubeconfigPath));
  emu = await startEmulator();
});

afterAll(async () => {
  if (client) await deleteScenarioPolicies(client);
  client?.close();
  await emu?.stop();
});

beforeEach(async () => {
  await emu.control.reset();
  ids = await emu.control.seedScenario();
  const kc = kubeConfig(kubeconfigPath);
  nsB = await freshNamespace(kc, "own");
  nsA = `${nsB}-a`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: nsA } } });
  recordsNs = await freshNamespace(kc, "records");
  // Tenancy is enforced: both namespaces' policies allow the scenario (this suite is about ownership).
  for (const n of [nsA, nsB]) await applyAccessPolicy(client, scenarioPolicy(n, ids));
  await emu.control.putPolicyRaw(apiTarget(), BASE);
  converged = true;
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  // After the operator stopped, so nothing moves while the world is read.
  await checkInvariants(sources(), snapshot, { converged });
});

const apiTarget = () => ({ serviceId: ids.apim.serviceId, apiId: ids.apim.apiId });
const opTarget = () => ({ ...apiTarget(), operationId: ids.apim.operationId });

async function startOperator(): Promise<void> {
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: `${nsA},${nsB}`,
    emulator: emu,
    resync: "1s",
    recordsNamespace: recordsNs,
  });
}

function policyBody(
  namespace: string,
  name: string,
  spec: Partial<ApimJwtPolicy["spec"]> = {},
): ApimJwtPolicy {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: JWT_POLICY_KIND,
    metadata: { name, namespace },
    spec: {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: ids.apim.apiId },
      tenantId: ids.tenantId,
      audiences: ["api://orders"],
      ...spec,
    },
  };
}

async function create(body: ApimJwtPolicy): Promise<ApimJwtPolicy> {
  return client.create<ApimJwtPolicy>(JWT_POLICY_RESOURCE, body.metadata.namespace, body);
}

const get = (namespace: string, name: string) =>
  client.get<ApimJwtPolicy>(JWT_POLICY_RESOURCE, { namespace, name });

const fidOf = (p: ApimJwtPolicy) => fragmentId(p.metadata.namespace!, p.metadata.name, p.metadata.uid!);
const includeOf = (id: string) => `<include-fragment fragment-id="${id}" />`;

async function fragments(): Promise<Map<string, { xml: string; description: string; etag: string }>> {
  const all = await emu.control.listPolicyFragments(ids.apim.serviceId);
  return new Map(all.map((f) => [f.fragmentId, f]));
}

async function waitCondition(
  namespace: string,
  name: string,
  type: string,
  status: string,
  reason?: string,
): Promise<ApimJwtPolicy> {
  let last: ApimJwtPolicy | undefined;
  await waitUntil(
    `${namespace}/${name} ${type}=${status}${reason ? ` (${reason})` : ""}`,
    async () => {
      last = await get(namespace, name);
      const c = findCondition(last.status?.conditions, type);
      return c?.status === status && (!reason || c.reason === reason);
    },
    30_000,
  );
  return last!;
}

async function waitGone(namespace: string, name: string): Promise<void> {
  await waitUntil(
    `${namespace}/${name} deleted`,
    async () => {
      try {
        await get(namespace, name);
        return false;
      } catch {
        return true;
      }
    },
    30_000,
  );
}

/** A few resync passes (1 s here) for something that must not happen. */
const settle = () => new Promise((r) => setTimeout(r, 3_000));

describe("ApimJwtPolicy ownership (issue 11)", () => {
  it("look-alike names on one API get distinct fragments; updating or deleting one never touches the others", async () => {
    snapshot = await snapshotForeign(sources());
    await startOperator();
    const a = await create(policyBody(nsA, "orders"));
    const b = await create(policyBody(nsB, "a-orders", { audiences: ["api://b"] }));
    const c = await create(policyBody(nsB, "a.orders", { audiences: ["api://c"] }));
    // The old mapping gave all three this one ID.
    expect(new Set([a, b, c].map((p) => legacyFragmentId(p.metadata.namespace!, p.metadata.name))).size).toBe(
      1,
    );
    for (const p of [a, b, c]) await waitCondition(p.metadata.namespace!, p.metadata.name, "Ready", "True");
    const ids3 = [a, b, c].map(fidOf);
    expect(new Set(ids3).size).toBe(3);
    let frags = await fragments();
    for (const [p, aud] of [
      [a, "api://orders"],
      [b, "api://b"],
      [c, "api://c"],
    ] as const) {
      const f = frags.get(fidOf(p))!;
      expect(f.xml).toContain(aud);
      expect(f.description).toBe(
        fragmentOwnerMarker(p.metadata.namespace!, p.metadata.name, p.metadata.uid!),
      );
    }
    let doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
    for (const id of ids3) expect(doc).toContain(includeOf(id));

    // b changes its audience: only b's fragment changes.
    const bFragBefore = frags.get(fidOf(b))!.xml;
    const untouched = { a: frags.get(fidOf(a))!, c: frags.get(fidOf(c))! };
    const bObj = await get(nsB, "a-orders");
    await client.replace(
      JWT_POLICY_RESOURCE,
      { namespace: nsB, name: "a-orders" },
      { ...bObj, spec: { ...bObj.spec, audiences: ["api://b2"] } },
    );
    await waitUntil(
      "b's fragment updated",
      async () => !!(await fragments()).get(fidOf(b))?.xml.includes("api://b2"),
      20_000,
    );
    frags = await fragments();
    expect(frags.get(fidOf(b))!.xml).not.toBe(bFragBefore);
    expect(frags.get(fidOf(a))).toEqual(untouched.a);
    expect(frags.get(fidOf(c))).toEqual(untouched.c);

    // a is deleted: a's include and fragment go, b's and c's stay.
    await client.delete(JWT_POLICY_RESOURCE, { namespace: nsA, name: "orders" });
    await waitGone(nsA, "orders");
    frags = await fragments();
    expect(frags.has(fidOf(a))).toBe(false);
    expect(frags.get(fidOf(c))).toEqual(untouched.c);
    expect(frags.get(fidOf(b))!.xml).toContain("api://b2");
    doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
    expect(doc).not.toContain(includeOf(fidOf(a)));
    expect(doc).toContain(includeOf(fidOf(b)));
    expect(doc).toContain(includeOf(fidOf(c)));
  });

  it("a fragment made by hand under our ID stalls the object FragmentOwnedByOther, naming it, and is left untouched", async () => {
    // Created while no operator runs, so the squatter is first.
    const p = await create(policyBody(nsA, "orders"));
    const hand =
      '<fragment><set-header name="x-open" exists-action="override"><value>1</value></set-header></fragment>';
    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: fidOf(p),
      xml: hand,
      description: "made in the portal by the platform team",
    });
    const before = (await fragments()).get(fidOf(p))!;
    snapshot = await snapshotForeign(sources());
    await startOperator();
    const stalled = await waitCondition(nsA, "orders", "Stalled", "True", "FragmentOwnedByOther");
    expect(findCondition(stalled.status?.conditions, "Stalled")!.message).toContain("no owner marker");
    await settle();
    expect((await fragments()).get(fidOf(p))).toEqual(before);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(BASE);
    expect(
      (await emu.control.requestLog({ operation: "PolicyFragment_CreateOrUpdate" })).length +
        (await emu.control.requestLog({ operation: "ApiPolicy_CreateOrUpdate" })).length,
    ).toBe(0);
    // The squatted fragment carries the operator's prefix but no record lists it: the one invariant that cannot hold.
    converged = false;
  });

  it("a forged status.target never makes the operator remove another object's include", async () => {
    // b's rule lives at the operation; a's at the API. Under the old IDs both were laio-<p>-a-orders.
    await emu.control.putPolicyRaw(opTarget(), BASE);
    snapshot = await snapshotForeign(sources());
    await startOperator();
    const b = await create(
      policyBody(nsB, "a-orders", { target: { apiId: ids.apim.apiId, operationId: ids.apim.operationId } }),
    );
    const a = await create(policyBody(nsA, "orders"));
    await waitCondition(nsB, "a-orders", "Ready", "True");
    await waitCondition(nsA, "orders", "Ready", "True");
    const opDoc = (await emu.control.getPolicyRaw(opTarget()))!.xml;
    expect(opDoc).toContain(includeOf(fidOf(b)));

    // Someone with a `*` status rule says a used to be at the operation.
    const current = await get(nsA, "orders");
    await client.replace(
      JWT_POLICY_RESOURCE,
      { namespace: nsA, name: "orders" },
      {
        ...current,
        status: { ...current.status, target: `api/${ids.apim.apiId}/operation/${ids.apim.operationId}` },
      },
      "status",
    );
    // Spec edits wake the operator at once; the forged status is read on the next passes (resync 1 s).
    const obj = await get(nsA, "orders");
    await client.replace(
      JWT_POLICY_RESOURCE,
      { namespace: nsA, name: "orders" },
      {
        ...obj,
        metadata: { ...obj.metadata, annotations: { poke: "1" } },
      },
    );
    await settle();
    expect((await emu.control.getPolicyRaw(opTarget()))!.xml).toBe(opDoc);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toContain(includeOf(fidOf(a)));
    // And deleting a, with the forged status still there, removes only a's own include.
    await client.delete(JWT_POLICY_RESOURCE, { namespace: nsA, name: "orders" });
    await waitGone(nsA, "orders");
    expect((await emu.control.getPolicyRaw(opTarget()))!.xml).toBe(opDoc);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(BASE);
  });

  it("races on the fragment are re-read and decided again, never a blind overwrite", async () => {
    snapshot = await snapshotForeign(sources());
    // 1. Someone creates a fragment under our ID between our read (absent) and our create: ours is refused (no
    //    If-Match = create-only), the pass reads again, finds it is not ours and stops.
    await emu.control.injectFault({
      match: { operation: "PolicyFragment_CreateOrUpdate" },
      action: { kind: "latency", ms: 2_500 },
      count: 1,
    });
    await startOperator();
    const p = await create(policyBody(nsA, "orders"));
    const stores = createOwnershipStores(client, recordsNs);
    // The record is written ahead of the fragment PUT, which the latency now holds.
    await waitUntil(
      "record written ahead",
      async () => !!(await stores.jwtPolicies.get(`${nsA}/orders`, AbortSignal.timeout(5_000))),
      10_000,
    );
    const squat =
      '<fragment><set-header name="x-raced" exists-action="override"><value>1</value></set-header></fragment>';
    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: fidOf(p),
      xml: squat,
      description: "raced",
    });
    const raced = (await fragments()).get(fidOf(p))!;
    await waitCondition(nsA, "orders", "Stalled", "True", "FragmentOwnedByOther");
    expect(
      (await emu.control.requestLog({ operation: "PolicyFragment_CreateOrUpdate" })).map((e) => e.status),
    ).toEqual([400]);
    expect((await fragments()).get(fidOf(p))).toEqual(raced);
    expect((await emu.control.getPolicyRaw(apiTarget()))!.xml).toBe(BASE);

    // 2. The squatter gives the ID back; the operator installs its rule. Then a portal edit of our fragment races
    //    our repair (412): read again, write with the fresh tag.
    await manager!.stop();
    manager = undefined;
    const held = emu.runtime.state.apimServices[ids.apim.serviceId.toLowerCase()]!.fragments;
    for (const [k, f] of Object.entries(held)) if (f.name === fidOf(p)) delete held[k];
    await startOperator();
    await waitCondition(nsA, "orders", "Ready", "True");
    const mine = (await fragments()).get(fidOf(p))!;
    expect(mine.description).toBe(fragmentOwnerMarker(nsA, "orders", p.metadata.uid!));
    await emu.control.resetLog();
    await emu.control.injectFault({
      match: { operation: "PolicyFragment_CreateOrUpdate" },
      action: { kind: "status", status: 412, code: "PreconditionFailed", message: "changed since read" },
      count: 1,
    });
    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: fidOf(p),
      xml: mine.xml.replace("api://orders", "api://anything"),
      description: mine.description,
    });
    await waitUntil(
      "fragment repaired",
      async () => (await fragments()).get(fidOf(p))!.xml === mine.xml,
      20_000,
    );
    const log = await emu.control.requestLog();
    const fragmentOps = log
      .filter((e) => e.operation.startsWith("PolicyFragment_"))
      .map((e) => `${e.operation}:${e.status}`);
    // The 412 is followed by a fresh read before the write that succeeds.
    const i412 = fragmentOps.indexOf("PolicyFragment_CreateOrUpdate:412");
    expect(i412).toBeGreaterThanOrEqual(0);
    const after = fragmentOps.slice(i412 + 1);
    expect(after[0]).toBe("PolicyFragment_Get:200");
    expect(after).toContain("PolicyFragment_CreateOrUpdate:200");
  });

  it("an object restored from backup (new UID, no status) takes over its fragment through the record: nothing lost or duplicated", async () => {
    snapshot = await snapshotForeign(sources());
    await startOperator();
    const before = await create(policyBody(nsA, "orders"));
    await waitCondition(nsA, "orders", "Ready", "True");
    const oldId = fidOf(before);
    // The cluster is lost while the operator is down; Azure and the records namespace survive.
    await manager!.stop();
    manager = undefined;
    const cur = await get(nsA, "orders");
    await client.replace(
      JWT_POLICY_RESOURCE,
      { namespace: nsA, name: "orders" },
      { ...cur, metadata: { ...cur.metadata, finalizers: [] } },
    );
    await client.delete(JWT_POLICY_RESOURCE, { namespace: nsA, name: "orders" });
    await waitGone(nsA, "orders");
    // Restored: same namespace, name and spec; a new UID and no status.
    const after = await create(policyBody(nsA, "orders"));
    expect(after.metadata.uid).not.toBe(before.metadata.uid);
    await emu.control.resetLog();
    await startOperator();
    await waitCondition(nsA, "orders", "Ready", "True");
    await waitUntil("old fragment gone", async () => !(await fragments()).has(oldId), 20_000);
    const doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
    expect(doc).toBe(BASE.replace("<base />\r\n", `<base />\r\n        ${includeOf(fidOf(after))}\r\n`));
    expect([...(await fragments()).keys()]).toEqual([fidOf(after)]);
    const rec = await createOwnershipStores(client, recordsNs).jwtPolicies.get(
      `${nsA}/orders`,
      AbortSignal.timeout(5_000),
    );
    expect(rec?.data).toEqual({
      uid: after.metadata.uid,
      fragments: [{ serviceId: ids.apim.serviceId, fragmentId: fidOf(after) }],
      targets: [`${ids.apim.serviceId.toLowerCase()}|api/${ids.apim.apiId}`],
    });
  });

  it("a legacy-ID fragment of this object migrates to the new ID with no moment where the API lacks the rule", async () => {
    const legacy = legacyFragmentId(nsA, "orders");
    const oldRule =
      '<fragment><validate-jwt header-name="Authorization" failed-validation-httpcode="401"><openid-config url="https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration" /></validate-jwt></fragment>';
    // What a version before issue 11 left: its fragment (legacy description) included after <base />.
    await emu.control.seedPolicyFragment({
      serviceId: ids.apim.serviceId,
      fragmentId: legacy,
      xml: oldRule,
      description: fragmentDescription(nsA, "orders"),
    });
    const withLegacy = BASE.replace("<base />\r\n", `<base />\r\n        ${includeOf(legacy)}\r\n`);
    await emu.control.putPolicyRaw(apiTarget(), withLegacy);
    // And b's look-alike legacy fragment on another API would carry b's description: never adopted (unit tests).
    snapshot = await snapshotForeign(sources());
    const p = await create(policyBody(nsA, "orders"));
    await emu.control.resetLog();
    await startOperator();
    await waitCondition(nsA, "orders", "Ready", "True");
    await waitUntil("legacy fragment deleted", async () => !(await fragments()).has(legacy), 20_000);
    const doc = (await emu.control.getPolicyRaw(apiTarget()))!.xml;
    // Same place, new ID.
    expect(doc).toBe(withLegacy.replace(includeOf(legacy), includeOf(fidOf(p))));
    const log = await emu.control.requestLog();
    const writes = log
      .filter((e) => e.method === "PUT" || e.method === "DELETE")
      .map(
        (e) => `${e.method} ${decodeURIComponent(e.path).split("/").slice(-2).join("/")}:${e.status < 300}`,
      );
    // Fragment under the new ID first, then the document switches includes in one PUT, then the legacy one goes.
    expect(writes).toEqual([
      `PUT policyFragments/${fidOf(p)}:true`,
      `PUT policies/policy:true`,
      `DELETE policyFragments/${legacy}:true`,
    ]);
  });
});
