/**
 * `evidence` from a binding the real rounds converged against the emulator: the JSON validates against the
 * published schema, CSV is RFC 4180, and --verify marks a grant deleted by hand MISSING and a grant nothing declared
 * UNDECLARED — reading Azure only.
 */
import { readFileSync } from "node:fs";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { seedStandardWithV2Connection, useEmulator } from "../support/emulator.ts";
import { FINALIZER, type LogicAppIdentityBinding } from "../../src/api/v1alpha1/index.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { converge } from "../../src/controllers/binding/kind.ts";
import { BindingRecords } from "../../src/controllers/binding/ownership.ts";
import type { BindingRecord } from "../../src/controllers/shared/ownership.ts";
import { collectEvidence, type EvidenceSource } from "../../src/cli/evidence/collect.ts";
import { csvField, renderCsv, renderJson, renderMarkdown } from "../../src/cli/evidence/render.ts";
import { EvidenceSchema } from "../../src/cli/evidence/schema.ts";
import { evidenceSchemaJson } from "../../src/cli/evidence/schema-json.ts";
import { readOnlyPorts } from "../../src/cli/plan/read-only.ts";
import { memoryRecordStore } from "../../src/runtime/records.ts";
import type { ApiRegistration, ApimJwtPolicy } from "../../src/api/v1alpha1/index.ts";
import { apiRegistrationKind } from "../../src/controllers/api-registration/kind.ts";
import type { RegistrationClaim } from "../../src/controllers/api-registration/model.ts";
import { withRegistrationRefs } from "../../src/controllers/binding/kind.ts";
import { jwtPolicyPass } from "../../src/controllers/jwt-policy/kind.ts";
import type { PassEnv } from "../../src/controllers/shared/pass.ts";
import { runRounds } from "../../src/controllers/shared/rounds.ts";

const NOW = "2026-12-01T10:00:00Z";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;

useEmulator({ config: { replicationDelayMs: 0 } }, (env) => ({ emu, ids, ports } = env));

/** A binding in team-a (default: "orders" on the scenario's Logic App with one RBAC and one app-role grant). */
function bindingOf(
  name = "orders",
  spec: LogicAppIdentityBinding["spec"] = {
    logicAppId: ids.logicAppId,
    identity: { type: "SystemAssigned" },
    roleAssignments: [{ scope: ids.keyVaultScope, role: "Key Vault Secrets User" }],
    appRoleAssignments: [{ api: ids.ordersApi.identifierUri, appRole: "AddRole" }],
  },
): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name, namespace: "team-a", uid: `uid-${name}`, generation: 1, finalizers: [FINALIZER] },
    spec,
  };
}

/** The binding converged by the real rounds against the emulator, and an evidence source over it and its record. */
async function converged(
  b: LogicAppIdentityBinding = bindingOf(),
): Promise<{ source: EvidenceSource; binding: LogicAppIdentityBinding }> {
  const store = memoryRecordStore<BindingRecord>("binding");
  const r = await converge(b, ports, {
    now: () => NOW,
    replicationPollMs: 1,
    records: new BindingRecords({ records: store }),
  });
  expect(r.stoppedBy).toBeUndefined();
  const binding = { ...b, status: r.status! };
  return {
    binding,
    source: {
      bindings: async () => [binding],
      jwtPolicies: async () => [],
      registrations: async () => [],
      record: async (ns, name) => (await store.get(`${ns}/${name}`, new AbortController().signal))?.data,
    },
  };
}

describe("evidence", () => {
  it("exports identity and grants from status and the record; JSON matches the published schema", async () => {
    const { source } = await converged();
    const e = await collectEvidence(source, { now: NOW });
    const b = e.bindings[0]!;
    expect(b.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.rbac).toEqual([
      expect.objectContaining({
        role: "Key Vault Secrets User",
        roleDefinitionGuid: "4633458b-17de-408a-b874-0445c86b69e6",
        ownership: "Created",
        recorded: true,
        state: "Granted",
      }),
    ]);
    expect(b.appRoles).toEqual([
      expect.objectContaining({
        appRole: "AddRole",
        appRoleId: ids.ordersApi.appRoles.AddRole,
        recorded: true,
      }),
    ]);
    const json: unknown = JSON.parse(renderJson(e));
    expect(Value.Check(EvidenceSchema, json)).toBe(true);
    expect(Value.Check(EvidenceSchema, { ...(json as object), bindings: [{ name: "x" }] })).toBe(false);
    expect(renderMarkdown(e)).toContain("| Key Vault Secrets User |");
  });

  it("--verify marks a grant deleted by hand MISSING and one nothing declared UNDECLARED, reading only", async () => {
    const { source } = await converged();
    const before = await collectEvidence(source, { now: NOW });
    const principal = before.bindings[0]!.principalId!;
    await emu.control.deleteRoleAssignment(before.bindings[0]!.rbac[0]!.assignmentId!);
    await emu.control.seedRoleAssignment({
      scope: ids.keyVaultScope,
      roleDefinitionId: READER,
      principalId: principal,
    });
    await emu.control.resetLog();
    const e = await collectEvidence(source, { now: NOW, verify: readOnlyPorts(ports) });
    expect((await emu.control.requestLog()).filter((x) => x.method !== "GET")).toEqual([]);
    const rbac = e.bindings[0]!.rbac;
    expect(rbac.map((r) => [r.role, r.verify])).toEqual([
      ["Key Vault Secrets User", "MISSING"],
      ["Reader", "UNDECLARED"],
    ]);
    expect(e.bindings[0]!.appRoles.map((a) => a.verify)).toEqual(["OK"]);
    expect(e.bindings[0]!.identityVerify).toBe("OK");
    expect(Value.Check(EvidenceSchema, JSON.parse(renderJson(e)))).toBe(true);
  });

  it("a grant on an ApiRegistration names it (appId, URI, token version, role id); the pinning rule's access verdict is included", async () => {
    const claims = memoryRecordStore<RegistrationClaim>("apireg");
    const reg: ApiRegistration = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "ApiRegistration",
      metadata: {
        name: "invoices-api",
        namespace: "team-a",
        uid: "uid-r",
        generation: 1,
        finalizers: [FINALIZER],
      },
      spec: {
        displayName: "Invoices API",
        identifierUris: ["api://invoices"],
        requestedAccessTokenVersion: 2,
        appRoles: [{ value: "Submit", displayName: "Submit invoices" }],
      },
    };
    const env = {
      call: {},
      ctx: { signal: new AbortController().signal, cache: () => ({ list: () => [], get: () => undefined }) },
    } as unknown as PassEnv<ApiRegistration>;
    const regDone = await runRounds(
      apiRegistrationKind({
        ports: { applications: ports.applications, graph: ports.graph, claims },
        replicationPollMs: 1,
      }).open(reg, env),
      reg,
      { now: () => NOW, maxRounds: 6 },
    );
    expect(regDone.stoppedBy).toBeUndefined();
    const registered: ApiRegistration = { ...reg, status: regDone.status! };
    const b: LogicAppIdentityBinding = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "LogicAppIdentityBinding",
      metadata: { name: "orders", namespace: "team-a", uid: "uid-1", generation: 1, finalizers: [FINALIZER] },
      spec: {
        logicAppId: ids.logicAppId,
        identity: { type: "SystemAssigned" },
        appRoleAssignments: [{ apiRegistrationRef: { name: "invoices-api" }, appRole: "Submit" }],
      },
    };
    const store = memoryRecordStore<BindingRecord>("binding");
    const r = await converge(
      withRegistrationRefs(b, () => registered),
      ports,
      {
        now: () => NOW,
        replicationPollMs: 1,
        records: new BindingRecords({ records: store }),
      },
    );
    expect(r.stoppedBy).toBeUndefined();
    const binding = { ...b, status: r.status! };
    const policy: ApimJwtPolicy = {
      apiVersion: "identity.logicapp.dev/v1alpha1",
      kind: "ApimJwtPolicy",
      metadata: {
        name: "invoices-jwt",
        namespace: "team-a",
        uid: "uid-p",
        generation: 1,
        finalizers: [FINALIZER],
      },
      spec: {
        apimServiceId: ids.apim.serviceId,
        target: { apiId: ids.apim.apiId },
        bindingRef: { name: "orders" },
      },
    } as ApimJwtPolicy;
    const hooks = jwtPolicyPass(
      policy,
      {
        ports: {
          apim: ports.apim,
          access: {
            apim: ports.apim,
            chain: ports.apimChain!,
            graph: ports.graph,
            applications: ports.applications,
          },
          records: memoryRecordStore("jwtpolicy"),
        },
      },
      {},
      () => binding,
      (_ns, name) => (name === "invoices-api" ? registered : undefined),
    );
    const applied = await runRounds(hooks, policy, { now: () => NOW, maxRounds: 4 });
    expect(applied.stoppedBy).toBeUndefined();
    const withStatus: ApimJwtPolicy = { ...policy, status: applied.status! };
    const e = await collectEvidence(
      {
        bindings: async () => [binding],
        jwtPolicies: async () => [withStatus],
        registrations: async () => [registered],
        record: async (ns, name) => (await store.get(`${ns}/${name}`, new AbortController().signal))?.data,
      },
      { now: NOW },
    );
    const grant = e.bindings[0]!.appRoles[0]!;
    expect(grant.registration).toEqual({
      namespace: "team-a",
      name: "invoices-api",
      appId: registered.status!.appId,
      identifierUri: "api://invoices",
      tokenVersion: 2,
      roleId: registered.status!.appRoles!.find((x) => x.value === "Submit")!.id,
    });
    expect(grant.appRoleId).toBe(grant.registration!.roleId);
    const jwt = e.bindings[0]!.jwtPolicies[0]!;
    expect(jwt.relation).toBe("pins");
    // The rule installed follows the registration (v2: aud is the appId): the token gets through.
    expect(jwt.access, JSON.stringify(withStatus.status)).toMatchObject({
      verified: "True",
      evaluated: 1,
      allowed: 1,
      blocked: 0,
    });
    expect(jwt.access!.verdicts).toEqual([
      { operation: `${ids.apim.apiId}/${ids.apim.operationId}`, verdict: "Allowed" },
    ]);
    expect(Value.Check(EvidenceSchema, JSON.parse(renderJson(e)))).toBe(true);
    expect(renderMarkdown(e)).toContain("(ApiRegistration team-a/invoices-api `api://invoices`, v2 tokens)");
  });

  it("a Standard app's V2 connection: the access policy the operator made is listed; --verify finds it, then MISSING or CHANGED", async () => {
    const { siteId, connectionId } = await seedStandardWithV2Connection(emu.control, ids);
    await emu.control.seedSiteWorkflow({
      siteId,
      name: "place-order",
      definition: {
        $schema:
          "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
        contentVersion: "1.0.0.0",
        triggers: {},
        actions: {},
      },
    });
    const { source, binding } = await converged(
      bindingOf("standard", { logicAppId: siteId, identity: { type: "SystemAssigned" } }),
    );
    const principal = binding.status!.principalId!;
    const policy = `laio-${principal}`;
    const verified = async () =>
      (await collectEvidence(source, { now: NOW, verify: readOnlyPorts(ports) })).bindings[0]!.connections;

    const e = await collectEvidence(source, { now: NOW });
    expect(e.bindings[0]!.connections).toEqual([
      {
        connectionId: connectionId.toLowerCase(),
        policy,
        policyId: `${connectionId.toLowerCase()}/accessPolicies/${policy}`,
        principalId: principal,
        state: "Granted",
      },
    ]);
    expect(Value.Check(EvidenceSchema, JSON.parse(renderJson(e)))).toBe(true);
    expect(renderMarkdown(e)).toContain(`| ${policy} | \`${principal}\` | Granted |`);
    expect(
      renderCsv(e)
        .split("\r\n")
        .filter((l) => l.includes(",connection,")),
    ).toHaveLength(1);

    await emu.control.resetLog();
    expect((await verified()).map((c) => c.verify)).toEqual(["OK"]);
    expect((await emu.control.requestLog()).filter((x) => x.method !== "GET")).toEqual([]);

    // Someone re-points the policy to another principal, then deletes it.
    await emu.control.seedConnectionAccessPolicy({
      connectionId,
      name: policy,
      objectId: "11111111-2222-4333-8444-555555555555",
    });
    expect((await verified()).map((c) => c.verify)).toEqual(["CHANGED"]);
    await ports.connections!.deleteAccessPolicy(connectionId, policy);
    expect((await verified()).map((c) => c.verify)).toEqual(["MISSING"]);
  });

  it("CSV is RFC 4180 with CRLF, quoting what needs it and defusing formulas", async () => {
    const { source } = await converged();
    const csv = renderCsv(await collectEvidence(source, { now: NOW }));
    expect(csv.endsWith("\r\n")).toBe(true);
    const lines = csv.split("\r\n").filter(Boolean);
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => l.split(",").length)).toEqual([17, 17, 17, 17]);
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("=cmd()")).toBe("'=cmd()");
    expect(csvField("line\nbreak")).toBe('"line\nbreak"');
  });

  it("docs/evidence.schema.json is the one the code generates (npm exec -- node hack/gen-evidence-schema.ts)", () => {
    // Compared as JSON: the committed file is prettier-formatted.
    const committed: unknown = JSON.parse(
      readFileSync(new URL("../../docs/evidence.schema.json", import.meta.url), "utf8"),
    );
    expect(committed).toEqual(JSON.parse(evidenceSchemaJson()));
  });
});
