/**
 * `plan` against the in-process emulator (no Kubernetes): it writes nothing (the emulator's request log holds only
 * reads), and what it plans is what the real rounds then write, request by request.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import { FINALIZER, type ApimJwtPolicy, type LogicAppIdentityBinding } from "../../src/api/v1alpha1/index.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { converge } from "../../src/controllers/binding/kind.ts";
import { jwtPolicyPass } from "../../src/controllers/jwt-policy/kind.ts";
import { runRounds } from "../../src/controllers/shared/rounds.ts";
import { memoryRecordStore, type RecordAccess } from "../../src/runtime/records.ts";
import { exitCodeOf, plan } from "../../src/cli/plan/engine.ts";
import { parseStream, type LoadResult } from "../../src/cli/plan/manifests.ts";
import { planCommand, type CommandIO } from "../../src/cli/plan/command.ts";
import { readOnlyPorts, ReadOnlyViolation } from "../../src/cli/plan/read-only.ts";
import { scenarioPolicy } from "../support/access-policy.ts";
import { stringify } from "yaml";
import type { ApiRegistration } from "../../src/api/v1alpha1/index.ts";
import type { KubeObject } from "../../src/api/v1alpha1/metadata.ts";
import { apiRegistrationKind } from "../../src/controllers/api-registration/kind.ts";
import type { RegistrationClaim } from "../../src/controllers/api-registration/model.ts";
import { withRegistrationRefs } from "../../src/controllers/binding/kind.ts";
import type { PassEnv } from "../../src/controllers/shared/pass.ts";
import { KNOWN_AFTER_APPLY } from "../../src/cli/plan/binding.ts";
import type { ClusterView } from "../../src/cli/plan/engine.ts";
import { loadManifests } from "../../src/cli/plan/manifests.ts";
import type { ObjectPlan } from "../../src/cli/plan/model.ts";
import { noRecords } from "../../src/cli/plan/records.ts";

const NOW = "2026-12-01T10:00:00Z";
let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;

useEmulator({ config: { replicationDelayMs: 0 } }, (env) => ({ emu, ids, ports } = env));

function binding(): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: "team-a", uid: "uid-1" },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
    },
  };
}

function jwtPolicy(): ApimJwtPolicy {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "ApimJwtPolicy",
    metadata: { name: "orders-jwt", namespace: "team-a", uid: "uid-2" },
    spec: {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: ids.apim.apiId },
      bindingRef: { name: "orders" },
    },
  } as ApimJwtPolicy;
}

function load(objects: unknown[]): LoadResult {
  const r: LoadResult = { manifests: [], skipped: 0, namespaces: [], errors: [] };
  parseStream(objects.map((o) => stringify(o)).join("---\n"), "test.yaml", r);
  return r;
}

const writesIn = (log: { method: string; path: string }[]) =>
  log.filter((e) => e.method !== "GET").map((e) => `${e.method} ${e.path.toLowerCase()}`);

describe("plan", () => {
  it("writes nothing: the emulator's request log holds only reads, and every planned write is listed", async () => {
    await emu.control.resetLog();
    const input = load([scenarioPolicy("team-a", ids), binding(), jwtPolicy()]);
    const result = await plan(input.manifests, { ports, tenancy: "enforce", now: NOW });
    const log = await emu.control.requestLog();
    expect(log.length).toBeGreaterThan(0);
    expect(log.filter((e) => e.method !== "GET")).toEqual([]);
    const b = result.objects.find((o) => o.kind === "LogicAppIdentityBinding")!;
    expect(b.error).toBeUndefined();
    expect(b.changes.map((c) => c.op)).toEqual(["enable-identity", "create", "create"]);
    const rbac = b.changes[1]!;
    expect(rbac.fields).toMatchObject({
      role: "Key Vault Secrets User",
      roleDefinitionGuid: "4633458b-17de-408a-b874-0445c86b69e6",
      scope: ids.keyVaultScope,
      principalId: "(known after apply)",
    });
    expect(rbac.afterApply).toBe(true);
    const jwt = result.objects.find((o) => o.kind === "ApimJwtPolicy")!;
    // A principal Azure has not made yet cannot be pinned: the policy waits for its binding, as the operator would.
    expect(jwt.notes.join(" ")).toMatch(/Waits for LogicAppIdentityBinding orders to be Ready/);
    expect(jwt.changes).toEqual([]);
    expect(exitCodeOf(result, input.errors)).toBe(2);
  });

  it("the read-only ports refuse a write before any request", async () => {
    await emu.control.resetLog();
    const ro = readOnlyPorts(ports);
    expect(() => ro.roleAssignments.delete("/x")).toThrow(ReadOnlyViolation);
    expect(() => ro.apim.putPolicy({ serviceId: ids.apim.serviceId }, "<policies/>", undefined)).toThrow(
      ReadOnlyViolation,
    );
    expect(await emu.control.requestLog()).toEqual([]);
  });

  it("plans what the rounds then write, request by request (identity already on; binding and JWT policy)", async () => {
    await converge(
      {
        ...binding(),
        metadata: { ...binding().metadata, finalizers: [FINALIZER] },
        spec: { ...binding().spec, roleAssignments: [], appRoleAssignments: [] },
      },
      ports,
      { now: () => NOW, replicationPollMs: 1 },
    );
    const input = load([scenarioPolicy("team-a", ids), binding(), jwtPolicy()]);
    await emu.control.resetLog();
    const result = await plan(input.manifests, { ports, tenancy: "enforce", now: NOW });
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
    const planned = result.objects.flatMap((o) =>
      o.changes.flatMap((c) => (c.write ? [`${c.write.method} ${c.write.path.toLowerCase()}`] : [])),
    );
    // RBAC grant, Graph grant, our fragment, the API's policy document with our include.
    expect(planned.length).toBe(4);
    expect(result.objects.find((o) => o.kind === "ApimJwtPolicy")!.diff).toMatch(
      /^\+.*<include-fragment fragment-id="/m,
    );
    await emu.control.resetLog();
    const applied = await converge(
      { ...binding(), metadata: { ...binding().metadata, finalizers: [FINALIZER] } },
      ports,
      { now: () => NOW, replicationPollMs: 1 },
    );
    expect(applied.stoppedBy).toBeUndefined();
    const bound = { ...binding(), status: applied.status! };
    const p = { ...jwtPolicy(), metadata: { ...jwtPolicy().metadata, finalizers: [FINALIZER] } };
    const hooks = jwtPolicyPass(
      p,
      { ports: { apim: ports.apim, records: memoryRecordStore("jwtpolicy") } },
      {},
      () => bound,
    );
    const jwtApplied = await runRounds(hooks, p, { now: () => NOW, maxRounds: 4 });
    expect(jwtApplied.stoppedBy).toBeUndefined();
    const log = await emu.control.requestLog();
    expect(writesIn(log)).toEqual(planned);
  });

  it("invalid input is an error naming the field, exit 1", async () => {
    const bad = binding();
    (bad.spec.identity as { userAssignedIdentityId?: string }).userAssignedIdentityId = "/nope";
    const out: string[] = [];
    const io: CommandIO = {
      stdout: (s) => out.push(s),
      stderr: (s) => out.push(s),
      stdin: () => stringify(bad),
      env: {},
      ports,
      now: () => NOW,
    };
    expect(await planCommand(["-f", "-"], io)).toBe(1);
    expect(out.join("")).toMatch(/spec\.identity/);
  });
});

describe("plan with an ApiRegistration (examples/seed-scenario.yaml)", () => {
  const SEED_SUB = "00000000-0000-0000-0000-0000000000a1";
  const files = ["examples/access-policy-team-orders.yaml", "examples/seed-scenario.yaml"];
  const seedFiles = () => loadManifests(files, () => "");
  const reg = (): ApiRegistration =>
    seedFiles().manifests.find((m) => m.object.kind === "ApiRegistration")!
      .object as unknown as ApiRegistration;
  const plannedWrites = (objects: ObjectPlan[], kind?: string) =>
    objects
      .filter((o) => kind === undefined || o.kind === kind)
      .flatMap((o) =>
        o.changes.flatMap((c) => (c.write ? [`${c.write.method} ${c.write.path.toLowerCase()}`] : [])),
      );
  /** The registration kind's real pass (gather, decide, apply), without Kubernetes. */
  const widePolicy = () => {
    const p = seedFiles().manifests.find((m) => m.object.metadata.name === "team-orders-api")!.object;
    return {
      ...p,
      spec: {
        ...(p.spec as object),
        apiRegistrations: { identifierUriPrefixes: ["api://orders-api", "api://payroll"] },
      },
    };
  };
  const applyRegistration = async (r: ApiRegistration) => (await applyRegistrationWithClaims(r)).registered;
  const applyRegistrationWithClaims = async (r: ApiRegistration) => {
    const claims = memoryRecordStore<RegistrationClaim>("apireg");
    const env = {
      call: {},
      ctx: { signal: new AbortController().signal, cache: () => staticList([]) },
    } as unknown as PassEnv<ApiRegistration>;
    const obj = { ...r, metadata: { ...r.metadata, uid: "uid-reg", generation: 1, finalizers: [FINALIZER] } };
    const hooks = apiRegistrationKind({
      ports: { applications: ports.applications, graph: ports.graph, claims },
      replicationPollMs: 1,
    }).open(obj, env);
    const done = await runRounds(hooks, obj, { now: () => NOW, maxRounds: 6 });
    expect(done.stoppedBy).toBeUndefined();
    return { registered: { ...obj, status: done.status! } as ApiRegistration, claims };
  };

  beforeEach(async () => {
    await emu.control.reset();
    await emu.control.setConfig({ replicationDelayMs: 0 });
    ids = await emu.control.seedScenario({ subscriptionId: SEED_SUB });
  });

  it("plans the registration, the binding's grant on it (known after apply) and the JWT policy; writes nothing", async () => {
    await emu.control.resetLog();
    const input = seedFiles();
    expect(input.errors).toEqual([]);
    const result = await plan(input.manifests, { ports, tenancy: "enforce", now: NOW });
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
    const r = result.objects.find((o) => o.kind === "ApiRegistration")!;
    expect(r.error).toBeUndefined();
    expect(r.refusals).toEqual([]);
    expect(r.changes.map((c) => [c.op, c.write?.method, c.write?.path, c.afterApply ?? false])).toEqual([
      ["create", "POST", "/v1.0/applications", false],
      ["create", "POST", "/v1.0/servicePrincipals", true],
    ]);
    expect(r.changes[0]!.fields.appRoles).toMatch(/^AddRole=[0-9a-f-]{36}$/);
    expect(r.registration).toMatchObject({ appId: KNOWN_AFTER_APPLY, tokenVersion: 1 });
    const b = result.objects.find((o) => o.kind === "LogicAppIdentityBinding")!;
    expect(b.error).toBeUndefined();
    expect(b.refusals).toEqual([]);
    const grant = b.changes.find((c) => c.fields.apiRegistration === "orders-api")!;
    expect(grant).toMatchObject({ op: "create", afterApply: true, fields: { appRole: "AddRole" } });
    expect(grant.write).toBeUndefined();
    // Planned before the binding (order), so the order in the report is registration first.
    expect(result.objects.map((o) => o.kind).indexOf("ApiRegistration")).toBeLessThan(
      result.objects.map((o) => o.kind).indexOf("LogicAppIdentityBinding"),
    );
    await emu.control.resetLog();
    await applyRegistration(reg());
    expect(writesIn(await emu.control.requestLog())).toEqual(
      plannedWrites(result.objects, "ApiRegistration"),
    );
  });

  it("once the registration exists: plan resolves the reference to its appId, and the rounds write what it planned", async () => {
    const { registered, claims } = await applyRegistrationWithClaims(reg());
    const appId = registered.status!.appId!;
    const inCluster = (ns: string, name: string) =>
      ns === "team-orders" && name === "orders-api" ? registered : undefined;
    const seedBinding = seedFiles().manifests.find((m) => m.object.kind === "LogicAppIdentityBinding")!
      .object as unknown as LogicAppIdentityBinding;
    const bindingObj: LogicAppIdentityBinding = {
      ...seedBinding,
      metadata: { ...seedBinding.metadata, uid: "uid-b", finalizers: [FINALIZER] },
    };
    // Identity already on, so every grant's principal is known and each planned write has its path.
    await converge(
      { ...bindingObj, spec: { ...bindingObj.spec, roleAssignments: [], appRoleAssignments: [] } },
      ports,
      {
        now: () => NOW,
        replicationPollMs: 1,
      },
    );
    // The registration as the cluster would hold it (live), the other objects from the files.
    const cluster = fakeCluster({ ApiRegistration: [registered] }, claims);
    // The policy's UID (as the cluster would give it) fixes its fragment ID, so every write has its path.
    const manifests = seedFiles().manifests;
    manifests.find((m) => m.object.kind === "ApimJwtPolicy")!.object.metadata.uid = "uid-p";
    await emu.control.resetLog();
    const result = await plan(manifests, { ports, tenancy: "enforce", now: NOW, cluster });
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
    const r = result.objects.find((o) => o.kind === "ApiRegistration")!;
    expect(r.changes).toEqual([]);
    expect(r.registration?.appId).toBe(appId);
    const b = result.objects.find((o) => o.kind === "LogicAppIdentityBinding")!;
    expect(b.refusals).toEqual([]);
    expect(b.changes.find((c) => c.op === "create" && c.fields.appRole === "AddRole")?.fields.api).toBe(
      appId,
    );
    const planned = plannedWrites(result.objects);
    // RBAC grant, Graph grant on the registration's service principal, our fragment, the API's policy document.
    expect(planned, JSON.stringify(result.objects, null, 1)).toHaveLength(4);

    await emu.control.resetLog();
    const resolved = withRegistrationRefs(bindingObj, (name) => inCluster("team-orders", name));
    const applied = await converge(resolved, ports, { now: () => NOW, replicationPollMs: 1 });
    expect(applied.stoppedBy).toBeUndefined();
    const bound = { ...bindingObj, status: applied.status! };
    const seedPolicy = seedFiles().manifests.find((m) => m.object.kind === "ApimJwtPolicy")!
      .object as unknown as ApimJwtPolicy;
    const p = { ...seedPolicy, metadata: { ...seedPolicy.metadata, uid: "uid-p", finalizers: [FINALIZER] } };
    const hooks = jwtPolicyPass(
      p,
      { ports: { apim: ports.apim, records: memoryRecordStore("jwtpolicy") } },
      {},
      () => bound,
      inCluster,
    );
    const jwtApplied = await runRounds(hooks, p, { now: () => NOW, maxRounds: 4 });
    expect(jwtApplied.stoppedBy).toBeUndefined();
    expect(writesIn(await emu.control.requestLog())).toEqual(planned);
  });

  it("refuses what the namespace may not declare, and an identifier URI another application holds", async () => {
    const { registered, claims } = await applyRegistrationWithClaims(reg());
    const outside = {
      ...reg(),
      metadata: { ...reg().metadata, name: "outside" },
      spec: { ...reg().spec, identifierUris: ["api://payments"] },
    };
    // Made in the portal by someone else: no owner the operator could be.
    const other = await emu.control.seedApplication({
      displayName: "Payroll",
      identifierUris: ["api://payroll"],
    });
    const taken = {
      ...reg(),
      spec: { ...reg().spec, identifierUris: ["api://orders-api", "api://payroll"] },
    };
    const cluster = fakeCluster({ ApiRegistration: [registered] }, claims);
    await emu.control.resetLog();
    const result = await plan(load([widePolicy(), outside, taken]).manifests, {
      ports,
      tenancy: "enforce",
      now: NOW,
      cluster,
    });
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
    const byName = (n: string) => result.objects.find((o) => o.name === n)!;
    expect(byName("outside").changes).toEqual([]);
    expect(byName("outside").refusals.map((x) => x.reason)).toEqual(["NotAllowed"]);
    expect(byName("orders-api").changes).toEqual([]);
    expect(byName("orders-api").refusals.map((x) => x.reason)).toEqual(["IdentifierUriInUse"]);
    expect(byName("orders-api").refusals[0]!.message).toContain(
      `api://payroll belongs to another application (${other.appId})`,
    );
  });

  it("adopting an application nobody owns is refused as NotOwner, as the ownership probe would", async () => {
    await emu.control.seedApplication({ displayName: "Payroll", identifierUris: ["api://payroll"] });
    const adopt = { ...reg(), spec: { ...reg().spec, identifierUris: ["api://payroll"] } };
    await emu.control.resetLog();
    const result = await plan(load([widePolicy(), adopt]).manifests, { ports, tenancy: "enforce", now: NOW });
    expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
    const r = result.objects.find((o) => o.kind === "ApiRegistration")!;
    expect(r.refusals.map((x) => x.reason)).toEqual(["NotOwner"]);
    expect(r.changes).toEqual([]);
  });

  it("renames, adds, and removes app roles (disable, then remove: two writes) and changes identifier URIs", async () => {
    const { registered, claims } = await applyRegistrationWithClaims(reg());
    const objectId = registered.status!.objectId!;
    const next: ApiRegistration = {
      ...reg(),
      spec: {
        ...reg().spec,
        identifierUris: ["api://orders-api", "api://orders-api/v2"],
        appRoles: [{ value: "ReadRole", displayName: "Read orders" }],
      },
    };
    const cluster = fakeCluster({ ApiRegistration: [registered] }, claims);
    const result = await plan(load([seedFiles().manifests[1]!.object, next]).manifests, {
      ports,
      tenancy: "enforce",
      now: NOW,
      cluster,
    });
    const r = result.objects.find((o) => o.kind === "ApiRegistration")!;
    expect(r.refusals).toEqual([]);
    expect(r.changes.map((c) => [c.op, c.write?.method, c.write?.path])).toEqual([
      ["disable-roles", "PATCH", `/v1.0/applications/${objectId}`],
      ["update", "PATCH", `/v1.0/applications/${objectId}`],
    ]);
    expect(r.changes[0]!.fields.identifierUris).toBe(
      "api://orders-api → api://orders-api, api://orders-api/v2",
    );
    expect(r.changes[0]!.fields.appRoles).toMatch(/add ReadRole .*disable AddRole/);
    expect(r.changes[1]!.fields.appRoles).toMatch(/^remove AddRole/);
    const renamed = {
      ...reg(),
      spec: { ...reg().spec, appRoles: [{ ...reg().spec.appRoles![0]!, displayName: "Create orders" }] },
    };
    const r2 = (
      await plan(load([seedFiles().manifests[1]!.object, renamed]).manifests, {
        ports,
        tenancy: "enforce",
        now: NOW,
        cluster,
      })
    ).objects.find((o) => o.kind === "ApiRegistration")!;
    expect(r2.changes.map((c) => c.fields.appRoles)).toEqual([
      'rename AddRole: "Add orders" → "Create orders"',
    ]);
  });
});

function staticList<T>(items: T[]) {
  return { get: () => undefined, list: () => items, hasSynced: () => true };
}

/** A cluster holding `objects`, no records, that stores every object as sent (no defaults applied). */
function fakeCluster(
  objects: Record<string, KubeObject<unknown, unknown>[]>,
  registrationClaims?: RecordAccess<RegistrationClaim>,
): ClusterView {
  return {
    get: async (kind, namespace, name) =>
      (objects[kind] ?? []).find((o) => o.metadata.name === name && o.metadata.namespace === namespace),
    list: async (kind) => objects[kind] ?? [],
    namespaces: async () => [],
    records: {
      bindings: noRecords(),
      jwtPolicies: noRecords(),
      ...(registrationClaims ? { registrationClaims } : {}),
    },
    dryRun: async (obj) => ({ stored: obj }),
  };
}
