/**
 * `plan` against the in-process emulator (no Kubernetes): it writes nothing (the emulator's request log holds only
 * reads), and what it plans is what the real rounds then write, request by request.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import { FINALIZER, type ApimJwtPolicy, type LogicAppIdentityBinding } from "../../src/api/v1alpha1/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { converge } from "../../src/controllers/binding/kind.ts";
import { jwtPolicyPass } from "../../src/controllers/jwt-policy/kind.ts";
import { runRounds } from "../../src/controllers/shared/rounds.ts";
import { memoryRecordStore } from "../../src/runtime/records.ts";
import { exitCodeOf, plan } from "../../src/cli/plan/engine.ts";
import { parseStream, type LoadResult } from "../../src/cli/plan/manifests.ts";
import { planCommand, type CommandIO } from "../../src/cli/plan/command.ts";
import { readOnlyPorts, ReadOnlyViolation } from "../../src/cli/plan/read-only.ts";
import { scenarioPolicy } from "../support/access-policy.ts";
import { stringify } from "yaml";

const credential = {
  getToken: async () => ({ token: "plan-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};
const NOW = "2026-12-01T10:00:00Z";
let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu?.stop();
});
beforeEach(async () => {
  await emu.control.reset();
  await emu.control.setConfig({ replicationDelayMs: 0 });
  ids = await emu.control.seedScenario();
  ports = createAzurePorts({
    credential,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    lroPollIntervalMs: 10,
  });
});

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
