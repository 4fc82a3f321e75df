/**
 * Bounded retries of idempotent reads (ADR 0026, finding 7 of docs/reliability.md) against the emulator's faults:
 * GET/HEAD that meet a 5xx, a reset or a timeout are tried again inside the pass; writes, 429s and delays Azure asked
 * for are not. Each case reads what the emulator logged on the wire and what it holds.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  FINALIZER,
  findCondition,
  type BindingStatus,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import type { ReadRetryOptions } from "../../src/azure/arm/read-retry.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import { AzureError } from "../../src/azure/errors.ts";
import type { AzureCall, AzureCallObserver, AzurePorts } from "../../src/azure/ports.ts";
import { converge } from "../../src/controllers/binding/kind.ts";

const credential = {
  getToken: async () => ({ token: "read-retry-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};
const NOW = "2026-12-04T10:00:00Z";
/** Short waits keep the file fast; the default (200–800 ms) is checked by the abort case's timing. */
const QUICK: ReadRetryOptions = { minDelayMs: 1, maxDelayMs: 5 };

let emu: RunningEmulator;
let ids: ScenarioIds;

function makePorts(
  readRetry: ReadRetryOptions = QUICK,
  extra: { requestTimeoutMs?: number; onCall?: AzureCallObserver } = {},
): AzurePorts {
  return createAzurePorts({
    credential,
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
    lroPollIntervalMs: 10,
    readRetry,
    ...extra,
  });
}

async function wire(operation: string): Promise<number> {
  return (await emu.control.requestLog({ operation })).length;
}

async function rejection(p: Promise<unknown>): Promise<AzureError> {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AzureError);
  return e as AzureError;
}

function binding(status?: BindingStatus, withAppRoles = true): LogicAppIdentityBinding {
  return {
    apiVersion: "laio.example.com/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: "team-a", uid: "uid-1", generation: 1, finalizers: [FINALIZER] },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
      appRoleAssignments: withAppRoles ? [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }] : [],
    },
    ...(status ? { status } : {}),
  };
}

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
});

describe("reads are retried (5xx, reset, timeout), at most twice", () => {
  it("two 500s on a GET: the third try answers", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 500 },
      count: 2,
    });
    const app = await makePorts().logicApps.observe(ids.logicAppId);
    expect(app.exists).toBe(true);
    expect(await wire("Workflows_Get")).toBe(3);
  });

  it("three 500s: the read fails as Transient after 3 tries, never more", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 500 },
      count: 5,
    });
    const e = await rejection(makePorts().logicApps.observe(ids.logicAppId));
    expect(e.kind).toBe("Transient");
    expect(await wire("Workflows_Get")).toBe(3);
  });

  it.each(["reset", "timeout"] as const)("a %s on a Graph GET is tried again", async (kind) => {
    await emu.control.injectFault({
      match: { operation: "AppRoleAssignedTo_List" },
      action: { kind },
      count: 1,
    });
    const calls: AzureCall[] = [];
    const ports = makePorts(QUICK, { requestTimeoutMs: 300, onCall: (c) => calls.push(c) });
    const list = await ports.graph.listAppRoleAssignedTo(ids.ordersApi.servicePrincipalId);
    expect(Array.isArray(list)).toBe(true);
    // Both tries went out (the first got no answer) and the second was answered.
    expect(calls.map((c) => c.statusCode)).toEqual([undefined, 200]);
    const logged = await emu.control.requestLog({ operation: "AppRoleAssignedTo_List" });
    expect(logged.map((l) => l.outcome)).toEqual([kind, "response"]);
  });

  it("maxRetries 0 turns it off (ADR 0005's single shot)", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 500 },
      count: 1,
    });
    await rejection(makePorts({ maxRetries: 0 }).logicApps.observe(ids.logicAppId));
    expect(await wire("Workflows_Get")).toBe(1);
  });
});

describe("what is never retried", () => {
  it("a 429 goes to the work queue with its Retry-After", async () => {
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_ListForScope" },
      action: { kind: "status", status: 429, retryAfterSeconds: 9 },
      count: 1,
    });
    const e = await rejection(makePorts().roleAssignments.listAtScope(ids.keyVaultScope));
    expect(e).toMatchObject({ kind: "Throttled", retryAfterMs: 9000 });
    expect(await wire("RoleAssignments_ListForScope")).toBe(1);
  });

  it("a 503 that carries Retry-After is Azure's delay, not ours to shorten", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 503, retryAfterMs: 1500 },
      count: 1,
    });
    const e = await rejection(makePorts().logicApps.observe(ids.logicAppId));
    expect(e).toMatchObject({ kind: "Transient", retryAfterMs: 1500 });
    expect(await wire("Workflows_Get")).toBe(1);
  });

  it("the Graph appRoleAssignedTo POST (not idempotent) is sent once, and nothing is created by a retry", async () => {
    const first = await converge(binding(undefined, false), makePorts(), { now: () => NOW });
    const principalId = first.status?.principalId;
    expect(principalId).toBeTruthy();
    await emu.control.injectFault({
      match: { operation: "AppRoleAssignedTo_Create" },
      action: { kind: "status", status: 500 },
      count: 1,
    });
    const ports = makePorts();
    const e = await rejection(
      ports.graph.createAppRoleAssignment(
        ids.ordersApi.servicePrincipalId,
        principalId!,
        ids.ordersApi.appRoles.AddRole,
      ),
    );
    expect(e.kind).toBe("Transient");
    expect(await wire("AppRoleAssignedTo_Create")).toBe(1);
    const held = () =>
      emu.control.listAppRoleAssignments({
        resourceId: ids.ordersApi.servicePrincipalId,
        principalId: principalId!,
      });
    expect(await held()).toHaveLength(0);
    // The fault, not the request, stopped it: the same call now creates exactly one.
    await ports.graph.createAppRoleAssignment(
      ids.ordersApi.servicePrincipalId,
      principalId!,
      ids.ordersApi.appRoles.AddRole,
    );
    expect(await held()).toHaveLength(1);
  });

  it("an ARM PUT that meets a 500 is sent once", async () => {
    const first = await converge(binding(undefined, false), makePorts(), { now: () => NOW });
    await emu.control.injectFault({
      match: { operation: "RoleAssignments_Create" },
      action: { kind: "status", status: 500 },
      count: 1,
    });
    // A second binding's grant at another scope: its create meets the fault.
    const other = binding(first.status, false);
    other.spec.roleAssignments = [{ scope: ids.resourceGroupId, role: "Reader" }];
    const r = await converge(other, makePorts(), { now: () => NOW, maxRounds: 2 });
    expect(r.stoppedBy).toBeInstanceOf(AzureError);
    expect(await wire("RoleAssignments_Create")).toBe(2); // one from the first pass, one (faulted) now
    const atRg = await emu.control.listRoleAssignments({
      scope: ids.resourceGroupId,
      principalId: first.status!.principalId!,
    });
    // The listing includes what sits below the group (the first pass's Key Vault grant); the faulted one is not there.
    expect(
      atRg.filter((a) => a.properties.scope.toLowerCase() === ids.resourceGroupId.toLowerCase()),
    ).toEqual([]);
  });

  it("the pass's abort signal ends the wait between tries", async () => {
    await emu.control.injectFault({
      match: { operation: "Workflows_Get" },
      action: { kind: "status", status: 500 },
    });
    const controller = new AbortController();
    const started = Date.now();
    const p = makePorts({ minDelayMs: 5_000, maxDelayMs: 5_000 }).logicApps.observe(ids.logicAppId, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    const e = await rejection(p);
    expect(e.kind).toBe("Transient");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await wire("Workflows_Get")).toBe(1);
  });
});

describe("a resync pass under 30 % 500s on reads (seeded)", () => {
  it("succeeds far more often with read retries", { timeout: 60_000 }, async () => {
    const ready = await converge(binding(), makePorts(), { now: () => NOW });
    expect(findCondition(ready.status?.conditions, "Ready")?.status).toBe("True");
    const resync = binding(ready.status);
    await emu.control.resetLog();
    const N = 30;
    const rate = async (readRetry: ReadRetryOptions, seed: number) => {
      await emu.control.clearFaults();
      await emu.control.injectFault({
        match: { method: "GET" },
        action: { kind: "status", status: 500 },
        probability: 0.3,
        seed,
      });
      const ports = makePorts(readRetry);
      let ok = 0;
      for (let i = 0; i < N; i++) {
        const r = await converge(resync, ports, { now: () => NOW });
        if (!r.stoppedBy && findCondition(r.status?.conditions, "Ready")?.status === "True") ok++;
      }
      await emu.control.clearFaults();
      return ok / N;
    };
    const without = await rate({ maxRetries: 0 }, 7);
    const withRetries = await rate(QUICK, 7);
    console.log(`resync pass success at 30 % read 500s: ${without} without retries, ${withRetries} with`);
    expect(without).toBeLessThan(0.4);
    expect(withRetries).toBeGreaterThan(0.7);
    // Nothing was written: a resync of a Ready binding only reads, with or without retries.
    const log = await emu.control.requestLog({});
    expect(
      log.filter((l) => ["PUT", "PATCH", "DELETE", "POST"].includes(l.method)).map((l) => l.operation),
    ).toEqual([]);
  });
});
