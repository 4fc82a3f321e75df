/**
 * The APIM part of the inventory (src/azure/inventory/apim.ts) through the real SDK clients against the emulator:
 * the JWT kind's reads are served from what is held, a refresh costs one HEAD per held document and GETs nothing,
 * and an edit made in APIM behind the operator's back enqueues exactly the ApimJwtPolicies that depend on it.
 */
import { describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import type { ApimJwtPolicy } from "../../src/api/v1alpha1/index.ts";
import {
  apimFragmentRef,
  apimTargetRef,
  changeRefs,
  jwtPolicyDependsOn,
} from "../../src/azure/inventory/depends-on.ts";
import { Inventory, type InventoryChange } from "../../src/azure/inventory/inventory.ts";
import { fragmentId } from "../../src/azure/naming.ts";
import type { ApimPolicyTarget, AzureListings, AzurePorts } from "../../src/azure/ports.ts";
import type { InformerHandler } from "../../src/runtime/informer.ts";
import { KeyIndex } from "../../src/runtime/key-index.ts";

const doc = (rule: string) => `<policies>\n  <inbound>\n    <base />\n    ${rule}\n  </inbound>\n</policies>`;

let emu: RunningEmulator;
let ids: ScenarioIds;
let direct: AzurePorts & { listings: AzureListings };

useEmulator(
  { config: { replicationDelayMs: 0, throttling: { enabled: false } } },
  (env) => ({ emu, ids, ports: direct } = env),
);

function policy(name: string, target: { apiId?: string; productId?: string }): ApimJwtPolicy {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "ApimJwtPolicy",
    metadata: { name, namespace: "jwt", uid: `uid-${name}`, generation: 1 },
    spec: { apimServiceId: ids.apim.serviceId, target, tenantId: "t", audiences: ["api://orders"] },
  } as ApimJwtPolicy;
}

async function requestsDuring(fn: () => Promise<unknown>): Promise<{ method: string; operation: string }[]> {
  await emu.control.resetLog();
  await fn();
  return (await emu.control.requestLog()).map((e) => ({ method: e.method, operation: e.operation }));
}

describe("Inventory: APIM documents by ETag", () => {
  it("serves reads from what it holds, refreshes with HEADs only, and enqueues only the policies an edit concerns", async () => {
    const inv = new Inventory(direct, direct.listings);
    const apim = inv.ports().apim;
    const onApi: ApimPolicyTarget = { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId };
    const onProduct: ApimPolicyTarget = { serviceId: ids.apim.serviceId, productId: ids.apim.productId };
    const mine = policy("orders", { apiId: ids.apim.apiId });
    const other = policy("catalog", { productId: ids.apim.productId });
    const frag = fragmentId("jwt", "orders", "uid-orders");

    // What the JWT kind does on a first apply: write the fragment and the include, then read both to confirm.
    await apim.putFragment(ids.apim.serviceId, frag, "<fragment><validate-jwt /></fragment>", "ours");
    await apim.putPolicy(onApi, doc(`<include-fragment fragment-id="${frag}" />`), undefined);
    await apim.putPolicy(onProduct, doc('<rate-limit calls="5" renewal-period="60" />'), undefined);
    const first = await requestsDuring(async () => {
      await apim.getPolicy(onApi);
      await apim.getFragment(ids.apim.serviceId, frag);
    });
    // The policy PUT answered with its document and tag; the fragment PUT did not, so it is read once.
    expect(first.map((r) => r.method)).toEqual(["GET"]);
    const steady = await requestsDuring(async () => {
      for (let i = 0; i < 5; i++) {
        await apim.getPolicy(onApi);
        await apim.getPolicy(onProduct);
        await apim.getFragment(ids.apim.serviceId, frag);
      }
    });
    expect(steady).toEqual([]);

    const changes: InventoryChange[] = [];
    inv.subscribe((c) => changes.push(...c));
    const quiet = await requestsDuring(() => inv.refresh());
    // A HEAD per target; the fragments of the service in one list (it carries their documents, no ETags).
    expect(quiet.map((r) => `${r.method} ${r.operation}`).sort()).toEqual([
      "GET PolicyFragment_ListByService",
      "HEAD ApiPolicy_GetEntityTag",
      "HEAD ProductPolicy_GetEntityTag",
    ]);
    expect(changes).toEqual([]);

    // Someone edits the fragment and the include in the portal.
    const now = (await direct.apim.getPolicy(onApi))!;
    await direct.apim.putPolicy(onApi, doc("<!-- include removed by hand -->"), now.etag);
    await direct.apim.putFragment(ids.apim.serviceId, frag, "<fragment><cors /></fragment>", "ours", "*");
    const refresh = await requestsDuring(() => inv.refresh());
    expect(refresh.every((r) => r.method === "HEAD" || r.operation === "PolicyFragment_ListByService")).toBe(
      true,
    );
    expect(changes).toEqual(
      expect.arrayContaining([
        { kind: "apim", ref: apimTargetRef(onApi), what: "changed" },
        { kind: "apim", ref: apimFragmentRef(ids.apim.serviceId, frag), what: "changed" },
      ]),
    );
    expect(changes).toHaveLength(2);

    // Only the policy that depends on the edited documents is enqueued.
    const handlers: InformerHandler<ApimJwtPolicy>[] = [];
    const index = new KeyIndex<ApimJwtPolicy>({ on: (h) => handlers.push(h) }, jwtPolicyDependsOn);
    for (const p of [mine, other]) for (const h of handlers) h("add", p);
    expect(index.keysFor(changes.flatMap(changeRefs))).toEqual(["jwt/orders"]);

    // The next pass reads what APIM now holds, not what the inventory held before the edit.
    expect((await apim.getPolicy(onApi))!.xml).toContain("include removed by hand");
    expect((await apim.getFragment(ids.apim.serviceId, frag))!.xml).toContain("<cors />");

    // A document deleted in APIM is reported gone, and then served as absent without a GET.
    changes.length = 0;
    const product = (await direct.apim.getPolicy(onProduct))!;
    await direct.apim.deletePolicy(onProduct, product.etag);
    await inv.refresh();
    expect(changes).toEqual([{ kind: "apim", ref: apimTargetRef(onProduct), what: "gone" }]);
    expect(await requestsDuring(() => apim.getPolicy(onProduct))).toEqual([]);
    expect(await apim.getPolicy(onProduct)).toBeUndefined();
  });

  it("does not take its own writes for someone else's edit", async () => {
    const inv = new Inventory(direct, direct.listings);
    const apim = inv.ports().apim;
    const onApi: ApimPolicyTarget = { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId };
    const changes: InventoryChange[] = [];
    inv.subscribe((c) => changes.push(...c));
    const frag = "laio-own-writes";
    await apim.putFragment(ids.apim.serviceId, frag, "<fragment><cors /></fragment>", "ours");
    const created = await apim.putPolicy(onApi, doc("<cors />"), undefined);
    await inv.refresh();
    await apim.putPolicy(onApi, doc("<cors /><!-- v2 -->"), created.etag);
    await apim.putFragment(ids.apim.serviceId, frag, "<fragment><cors /><!-- v2 --></fragment>", "ours", "*");
    await inv.refresh();
    await inv.refresh();
    expect(changes).toEqual([]);
    expect((await apim.getPolicy(onApi))!.xml).toContain("v2");
  });

  it("watches many fragments of one service with one list per refresh, and reports only the one edited", async () => {
    const inv = new Inventory(direct, direct.listings);
    const apim = inv.ports().apim;
    const changes: InventoryChange[] = [];
    inv.subscribe((c) => changes.push(...c));
    const frags = Array.from({ length: 12 }, (_, i) => fragmentId("jwt", `p${i}`, `uid-${i}`));
    for (const f of frags) {
      await apim.putFragment(ids.apim.serviceId, f, `<fragment><!-- ${f} --></fragment>`, "ours");
      await apim.getFragment(ids.apim.serviceId, f);
    }
    await inv.refresh(); // the baseline
    const quiet = await requestsDuring(() => inv.refresh());
    expect(quiet).toEqual([{ method: "GET", operation: "PolicyFragment_ListByService" }]);
    expect(changes).toEqual([]);
    // Reads stay served from what is held while the lists say nothing moved.
    expect(await requestsDuring(() => apim.getFragment(ids.apim.serviceId, frags[3]!))).toEqual([]);

    // Edited and deleted behind our back: exactly those two are reported, and the edit is read afresh.
    await direct.apim.putFragment(
      ids.apim.serviceId,
      frags[3]!,
      "<fragment><cors /></fragment>",
      "ours",
      "*",
    );
    await direct.apim.deleteFragment(ids.apim.serviceId, frags[7]!, "*");
    await inv.refresh();
    expect(changes).toEqual([
      { kind: "apim", ref: apimFragmentRef(ids.apim.serviceId, frags[3]!), what: "changed" },
      { kind: "apim", ref: apimFragmentRef(ids.apim.serviceId, frags[7]!), what: "gone" },
    ]);
    // Gone is served as absent without a request.
    expect(await requestsDuring(() => apim.getFragment(ids.apim.serviceId, frags[7]!))).toEqual([]);
    expect(await apim.getFragment(ids.apim.serviceId, frags[7]!)).toBeUndefined();
    expect((await apim.getFragment(ids.apim.serviceId, frags[3]!))!.xml).toContain("<cors />");
  });
});
