/**
 * plan --cluster and evidence against a real API server and the emulator, with the operator running: a new object
 * plans as new, a converged one as unchanged with no changes (plan and the operator agree), an edit as changed, an
 * immutable field is refused by the API server's own CEL (server-side dry-run), and plan sends Azure only reads.
 * evidence exports from status and the records, and --verify finds a grant deleted by hand.
 */
import { Value } from "@sinclair/typebox/value";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { startEmulator, type RunningEmulator, type ScenarioIds } from "../../emulator/index.ts";
import {
  API_VERSION,
  findCondition,
  type ApiRegistration,
  type LogicAppIdentityBinding,
} from "../../src/api/v1alpha1/index.ts";
import { createAzurePorts } from "../../src/azure/clients.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { evidenceCommand } from "../../src/cli/evidence/command.ts";
import { EvidenceSchema, type Evidence } from "../../src/cli/evidence/schema.ts";
import { planCommand, type CommandIO } from "../../src/cli/plan/command.ts";
import { API_REGISTRATION_RESOURCE, BINDING_RESOURCE } from "../../src/controllers/resources.ts";
import { KubeClient } from "../../src/runtime/client.ts";
import type { Manager } from "../../src/runtime/manager.ts";
import { applyAccessPolicy, deleteAccessPolicy, scenarioPolicy } from "../support/access-policy.ts";
import { freshNamespace, kubeConfig, waitUntil } from "../support/kube.ts";
import { startTestOperator } from "../support/operator.ts";

let kubeconfigPath: string;
let emu: RunningEmulator;
let client: KubeClient;
let manager: Manager | undefined;
let ns: string;
let recordsNs: string;
let ids: ScenarioIds;
let ports: AzurePorts;
let policyName: string;

beforeAll(async () => {
  kubeconfigPath = inject("kubeconfig");
  client = new KubeClient(kubeConfig(kubeconfigPath));
  emu = await startEmulator();
  await emu.control.setConfig({ replicationDelayMs: 0 });
  ids = await emu.control.seedScenario();
  ns = await freshNamespace(kubeConfig(kubeconfigPath), "plan");
  recordsNs = await freshNamespace(kubeConfig(kubeconfigPath), "records");
  const policy = scenarioPolicy(ns, ids);
  policyName = await applyAccessPolicy(client, {
    ...policy,
    spec: { ...policy.spec, apiRegistrations: { identifierUriPrefixes: [`api://${ns}`] } },
  });
  ports = createAzurePorts({
    credential: { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) },
    armEndpoint: emu.url,
    graphEndpoint: emu.url,
    tlsCa: emu.caPem,
  });
  manager = await startTestOperator({
    kubeconfigPath,
    namespace: ns,
    recordsNamespace: recordsNs,
    emulator: emu,
  });
});

afterAll(async () => {
  await manager?.stop();
  if (client) await deleteAccessPolicy(client, policyName);
  client?.close();
  await emu?.stop();
});

function binding(over: Partial<LogicAppIdentityBinding["spec"]> = {}): LogicAppIdentityBinding {
  return {
    apiVersion: API_VERSION,
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: ns },
    spec: {
      logicAppId: ids.logicAppId,
      identity: { type: "SystemAssigned" },
      roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
      appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
      ...over,
    },
  };
}

async function run(
  cmd: typeof planCommand,
  args: string[],
  stdin = "",
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CommandIO = {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    stdin: () => stdin,
    env: {},
    ports,
    kubeConfig: kubeConfig(kubeconfigPath),
  };
  const code = await cmd(args, io);
  return { code, out, err };
}

interface PlanJson {
  objects: {
    cluster?: string;
    clusterDiff?: string[];
    error?: string;
    changes: { op: string; write?: { method: string; path: string } }[];
  }[];
}

const planOf = async (b: LogicAppIdentityBinding | ApiRegistration) => {
  await emu.control.resetLog();
  const r = await run(
    planCommand,
    ["-f", "-", "--cluster", "--format", "json", "--records-namespace", recordsNs],
    stringify(b),
  );
  expect(r.err).toBe("");
  // Plan never writes to Azure.
  expect((await emu.control.requestLog()).filter((e) => e.method !== "GET")).toEqual([]);
  return { ...r, json: JSON.parse(r.out) as PlanJson };
};

describe("plan --cluster and evidence", () => {
  it("plans a new object as new (dry-run accepted), exit 2", async () => {
    const r = await planOf(binding());
    expect(r.err).toBe("");
    expect(r.code).toBe(2);
    expect(r.json.objects[0]!.cluster).toBe("new");
    expect(r.json.objects[0]!.changes.map((c) => c.op)).toEqual(["enable-identity", "create", "create"]);
  });

  it("once the operator converged it: unchanged, no changes (exit 0); an edit is changed; an immutable field refused", async () => {
    await client.create(BINDING_RESOURCE, ns, binding());
    await waitUntil(
      "binding Ready",
      async () =>
        findCondition(
          (await client.get<LogicAppIdentityBinding>(BINDING_RESOURCE, { namespace: ns, name: "orders" }))
            .status?.conditions,
          "Ready",
        )?.status === "True",
      60_000,
    );
    const same = await planOf(binding());
    expect(same.json.objects[0]).toMatchObject({ cluster: "unchanged", changes: [] });
    expect(same.code).toBe(0);

    const more = await planOf(
      binding({
        roleAssignments: [
          { scope: ids.keyVaultScope, role: "Key Vault Secrets User" },
          { scope: ids.keyVaultScope, role: "Reader" },
        ],
      }),
    );
    expect(more.code).toBe(2);
    expect(more.json.objects[0]).toMatchObject({ cluster: "changed", clusterDiff: ["spec.roleAssignments"] });
    expect(more.json.objects[0]!.changes.map((c) => c.op)).toEqual(["create"]);

    const moved = await planOf(binding({ logicAppId: `${ids.logicAppId}-other` }));
    expect(moved.code).toBe(1);
    expect(moved.json.objects[0]!.error).toMatch(/logicAppId is immutable/);
  });

  it("an ApiRegistration the operator made plans unchanged (its claim is read from the records); a new role is one PATCH", async () => {
    const reg = (roles: { value: string; displayName: string }[]): ApiRegistration => ({
      apiVersion: API_VERSION,
      kind: "ApiRegistration",
      metadata: { name: "reports-api", namespace: ns },
      spec: { displayName: "Reports API", identifierUris: [`api://${ns}/reports`], appRoles: roles },
    });
    const read = [{ value: "Read", displayName: "Read reports" }];
    await client.create(API_REGISTRATION_RESOURCE, ns, reg(read));
    let objectId = "";
    await waitUntil(
      "registration Ready",
      async () => {
        const r = await client.get<ApiRegistration>(API_REGISTRATION_RESOURCE, {
          namespace: ns,
          name: "reports-api",
        });
        objectId = r.status?.objectId ?? "";
        return findCondition(r.status?.conditions, "Ready")?.status === "True";
      },
      60_000,
    );
    const same = await planOf(reg(read));
    // Without the claim (records) the application would look found, not made: "adopt".
    expect(same.json.objects[0]).toMatchObject({ cluster: "unchanged", changes: [] });
    expect(same.code).toBe(0);
    const more = await planOf(reg([...read, { value: "Export", displayName: "Export reports" }]));
    expect(more.code).toBe(2);
    expect(more.json.objects[0]).toMatchObject({ cluster: "changed", clusterDiff: ["spec.appRoles"] });
    expect(more.json.objects[0]!.changes).toEqual([
      expect.objectContaining({
        op: "update",
        write: { method: "PATCH", path: `/v1.0/applications/${objectId}` },
      }),
    ]);
  });

  it("evidence exports the binding (schema-valid JSON); --verify marks a grant deleted by hand MISSING", async () => {
    const ok = await run(evidenceCommand, [
      "-n",
      ns,
      "--format",
      "json",
      "--verify",
      "--records-namespace",
      recordsNs,
    ]);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    const e = JSON.parse(ok.out) as Evidence;
    expect(Value.Check(EvidenceSchema, e)).toBe(true);
    const b = e.bindings[0]!;
    expect(b.rbac).toEqual([
      expect.objectContaining({
        role: "Key Vault Secrets User",
        ownership: "Created",
        recorded: true,
        verify: "OK",
      }),
    ]);
    expect(b.appRoles[0]).toMatchObject({ appRole: "AddRole", recorded: true, verify: "OK" });
    // The operator would repair the grant; stop it so the deletion stays for --verify to find.
    await manager?.stop();
    manager = undefined;
    await emu.control.deleteRoleAssignment(b.rbac[0]!.assignmentId!);
    const missing = await run(evidenceCommand, [
      "-n",
      ns,
      "--format",
      "csv",
      "--verify",
      "--records-namespace",
      recordsNs,
    ]);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/,rbac,.*Key Vault Secrets User.*,MISSING\r\n/);
  });
});
