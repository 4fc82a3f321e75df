import { describe, expect, it } from "vitest";
import type { ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { AzureError } from "../../azure/errors.ts";
import type { ApimPolicyTarget, ApimPort, FragmentDocument, PolicyDocument } from "../../azure/ports.ts";
import { memoryRecordStore } from "../../runtime/records.ts";
import type { JwtPolicyRecord } from "../shared/ownership.ts";
import { apply } from "./apply.ts";
import { targetLabel, type Desired } from "./decide.ts";
import { bindingFacts, gather, targetFromLabel } from "./gather.ts";
import { policiesReferencing } from "./reconciler.ts";

/** The record store's contract in memory (the real one runs on the API server in the cluster tests). */
const memoryRecords = () => memoryRecordStore<JwtPolicyRecord>("jwtpolicy");

const SVC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";

/** An in-memory APIM with the port's contract (absence as a value, 412 on a stale ETag) and a call log. */
class FakeApim implements ApimPort {
  policies = new Map<string, PolicyDocument>();
  fragments = new Map<string, FragmentDocument>();
  apis = new Set<string>(["orders"]);
  calls: string[] = [];
  fail: Partial<Record<string, AzureError>> = {};
  private etag = 1;
  private key = (t: ApimPolicyTarget) => `${t.productId ?? ""}|${t.apiId ?? ""}|${t.operationId ?? ""}`;
  private maybeFail(op: string) {
    this.calls.push(op);
    const e = this.fail[op];
    if (e) throw e;
  }
  async checkTarget(t: ApimPolicyTarget) {
    this.maybeFail("checkTarget");
    if (t.apiId && !this.apis.has(t.apiId)) return { exists: false as const, missing: `api '${t.apiId}'` };
    return { exists: true as const };
  }
  async getPolicy(t: ApimPolicyTarget) {
    this.maybeFail("getPolicy");
    return this.policies.get(this.key(t));
  }
  async putPolicy(t: ApimPolicyTarget, xml: string, ifMatch: string | undefined) {
    this.maybeFail("putPolicy");
    const cur = this.policies.get(this.key(t));
    // Without If-Match only a create passes (APIM refuses to overwrite; the adapter maps that to 412).
    if (ifMatch === undefined ? cur !== undefined : ifMatch !== "*" && cur?.etag !== ifMatch) {
      throw new AzureError({
        kind: "PreconditionFailed",
        message: "412",
        statusCode: 412,
        service: "arm-apim",
        operation: "apiPolicy.createOrUpdate",
      });
    }
    const doc = { xml, etag: `e${this.etag++}` };
    this.policies.set(this.key(t), doc);
    return doc;
  }
  async deletePolicy(t: ApimPolicyTarget) {
    this.maybeFail("deletePolicy");
    this.policies.delete(this.key(t));
  }
  async getFragment(_s: string, id: string) {
    this.maybeFail("getFragment");
    return this.fragments.get(id);
  }
  async putFragment(_s: string, id: string, xml: string, description: string) {
    this.maybeFail("putFragment");
    this.fragments.set(id, { xml, etag: `e${this.etag++}`, description });
  }
  async deleteFragment(_s: string, id: string) {
    this.maybeFail("deleteFragment");
    this.fragments.delete(id);
  }
}

function binding(over: Partial<LogicAppIdentityBinding> = {}, ready = "True", observedGeneration = 2) {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: "team-a", generation: 2 },
    spec: {
      logicAppId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/w",
      identity: { type: "SystemAssigned" },
      appRoleAssignments: [
        { api: "api://orders", appRole: "Orders.Write" },
        { api: "api://orders", appRole: "Orders.Read" },
        { api: "8d6c4c8e-7d0e-4a44-9a4b-2f1b7d7a0c11", appRole: "Orders.Write" },
      ],
    },
    status: {
      principalId: "p-1",
      tenantId: "t-1",
      conditions: [
        {
          type: "Ready",
          status: ready,
          reason: "x",
          message: "",
          observedGeneration,
          lastTransitionTime: "2026-11-28T00:00:00Z",
        },
      ],
    },
    ...over,
  } as LogicAppIdentityBinding;
}

function policy(
  name: string,
  ns: string,
  bindingName?: string,
  target: ApimJwtPolicy["spec"]["target"] = {},
) {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "ApimJwtPolicy",
    metadata: { name, namespace: ns },
    spec: {
      apimServiceId: SVC,
      target,
      ...(bindingName ? { bindingRef: { name: bindingName } } : {}),
    },
  } as ApimJwtPolicy;
}

describe("bindingFacts", () => {
  it("missing binding → not ready, missing", () => {
    expect(bindingFacts("orders", undefined)).toEqual({ name: "orders", ready: false, missing: true });
  });
  it("Ready binding → principal, tenant, de-duplicated audiences and roles from its app-role grants", () => {
    expect(bindingFacts("orders", binding())).toEqual({
      name: "orders",
      ready: true,
      principalId: "p-1",
      tenantId: "t-1",
      audiences: ["api://orders", "8d6c4c8e-7d0e-4a44-9a4b-2f1b7d7a0c11"],
      roles: ["Orders.Write", "Orders.Read"],
    });
  });
  it("Ready computed from an older generation, or not True → not ready", () => {
    expect(bindingFacts("orders", binding({}, "True", 1)).ready).toBe(false);
    expect(bindingFacts("orders", binding({}, "False")).ready).toBe(false);
  });
});

describe("targetFromLabel", () => {
  it.each([{}, { productId: "p" }, { apiId: "a" }, { apiId: "a", operationId: "o" }])(
    "inverts targetLabel for %j",
    (t) => {
      expect(targetFromLabel(targetLabel(t))).toEqual(t);
    },
  );
  it("anything else → undefined", () => {
    expect(targetFromLabel("api/a/b")).toBeUndefined();
    expect(targetFromLabel("")).toBeUndefined();
  });
});

describe("policiesReferencing", () => {
  it("maps a binding to the policies in its namespace that name it", () => {
    const all = [
      policy("a", "team-a", "orders"),
      policy("b", "team-a", "other"),
      policy("c", "team-b", "orders"),
      policy("d", "team-a"),
    ];
    const cache = { list: (ns?: string) => all.filter((p) => !ns || p.metadata.namespace === ns) };
    expect(policiesReferencing(binding(), cache)).toEqual([{ namespace: "team-a", name: "a" }]);
  });
});

describe("gather", () => {
  const who = (p: ApimJwtPolicy): Desired => ({
    namespace: p.metadata.namespace!,
    name: p.metadata.name,
    uid: "u1",
    spec: p.spec,
    fragmentId: "fid",
    ownerMarker: "managed-by=logicapp-identity-operator; owner=ns/p; uid=u1",
    legacyFragmentId: "laio-ns-p",
  });
  it("steady state (a record exists) is two APIM reads: an existing document proves the target exists", async () => {
    const apim = new FakeApim();
    const records = memoryRecords();
    await records.put(
      "ns/p",
      { uid: "u1", fragments: [{ serviceId: SVC, fragmentId: "fid" }], targets: [] },
      undefined,
      new AbortController().signal,
    );
    apim.policies.set("|orders|", { xml: "<policies />", etag: "e0" });
    const p = policy("p", "ns", undefined, { apiId: "orders" });
    const o = await gather(p, { apim, records }, who(p));
    expect(o.target).toEqual({ exists: true });
    expect(o.policy?.etag).toBe("e0");
    expect(o.fragment).toBeUndefined();
    expect(o.record?.data.uid).toBe("u1");
    expect(apim.calls).toEqual(["getPolicy", "getFragment"]);
  });
  it("no document → the target is checked and the missing entity named; no record yet → the legacy ID is read too", async () => {
    const apim = new FakeApim();
    const p = policy("p", "ns", undefined, { apiId: "gone" });
    apim.fragments.set("laio-ns-p", { xml: "<fragment />", etag: "f0", description: "old" });
    const o = await gather(p, { apim, records: memoryRecords() }, who(p));
    expect(o.target).toEqual({ exists: false, missing: "api 'gone'" });
    expect(o.predecessors?.map((f) => [f.fragmentId, f.description, f.owner])).toEqual([
      ["laio-ns-p", "old", undefined],
    ]);
    expect(apim.calls).toEqual(["getPolicy", "checkTarget", "getFragment", "getFragment"]);
  });
});

describe("apply", () => {
  const t = { serviceId: SVC, apiId: "orders" };
  it("runs actions in order; a 412 on the document stops the pass as a conflict (fragment already written)", async () => {
    const apim = new FakeApim();
    apim.policies.set("|orders|", { xml: "<policies />", etag: "e-now" });
    const r = await apply(
      [
        { type: "putFragment", fragmentId: "fid", xml: "<fragment />", description: "d" },
        { type: "putPolicy", xml: "<policies>x</policies>", ifMatch: "e-stale" },
        { type: "deleteFragment", fragmentId: "other", ifMatch: "f1" },
      ],
      { apim, records: memoryRecords() },
      t,
      { namespace: "ns", name: "p" },
    );
    expect(r.conflict?.kind).toBe("PreconditionFailed");
    expect(r.stoppedBy).toBeUndefined();
    expect(r.results.map((x) => x.action.type)).toEqual(["putFragment"]);
    expect(apim.policies.get("|orders|")?.xml).toBe("<policies />");
    expect(apim.fragments.has("fid")).toBe(true);
    expect(apim.calls).toEqual(["putFragment", "putPolicy"]);
  });
  it("a migration delete APIM refuses (409: still included elsewhere) is deferred; the record write-ahead went first", async () => {
    const apim = new FakeApim();
    const records = memoryRecords();
    apim.fragments.set("legacy", { xml: "<fragment />", etag: "f0", description: "old" });
    apim.fail.deleteFragment = new AzureError({
      kind: "Conflict",
      message: "still referenced",
      statusCode: 409,
      service: "arm-apim",
      operation: "policyFragment.delete",
    });
    const record = { uid: "u1", fragments: [{ serviceId: SVC, fragmentId: "legacy" }], targets: [] };
    const r = await apply(
      [
        { type: "putRecord", record },
        { type: "deleteFragment", fragmentId: "legacy", ifMatch: "f0", migration: true },
        { type: "putPolicy", xml: "<policies />" },
      ],
      { apim, records },
      t,
      { namespace: "ns", name: "p" },
    );
    expect(r.stoppedBy).toBeUndefined();
    expect(r.results.map((x) => [x.action.type, x.outcome])).toEqual([
      ["putRecord", "done"],
      ["deleteFragment", "deferred"],
      ["putPolicy", "done"],
    ]);
    expect(apim.fragments.has("legacy")).toBe(true);
    expect((await records.get("ns/p", new AbortController().signal))?.data).toEqual(record);
  });

  it("any other failure stops the pass and is returned", async () => {
    const apim = new FakeApim();
    const denied = new AzureError({
      kind: "Forbidden",
      message: "no",
      statusCode: 403,
      service: "arm-apim",
      operation: "policyFragment.createOrUpdate",
    });
    apim.fail.putFragment = denied;
    const r = await apply(
      [
        { type: "putFragment", fragmentId: "fid", xml: "<fragment />", description: "d" },
        { type: "putPolicy", xml: "<policies />" },
      ],
      { apim, records: memoryRecords() },
      t,
      { namespace: "ns", name: "p" },
    );
    expect(r.stoppedBy).toBe(denied);
    expect(r.conflict).toBeUndefined();
    expect(apim.policies.size).toBe(0);
  });
});
