/**
 * ApimJwtPolicy passes through the engine's rounds against the in-process emulator, without Kubernetes: the 412
 * re-read budget now lives in the engine (shared/rounds.ts), so it is asserted here on what APIM holds afterwards.
 */
import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import { FINALIZER, type ApimJwtPolicy } from "../../src/api/v1alpha1/index.ts";
import { isAzureError } from "../../src/azure/errors.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { fragmentId } from "../../src/azure/naming.ts";
import { jwtPolicyPass } from "../../src/controllers/jwt-policy/kind.ts";
import { describeFailure } from "../../src/controllers/shared/pass-failure.ts";
import { runRounds } from "../../src/controllers/shared/rounds.ts";
import { memoryRecordStore, type RecordAccess, type StoredRecord } from "../../src/runtime/records.ts";
import type { JwtPolicyRecord } from "../../src/controllers/shared/ownership.ts";

const FOREIGN =
  '<policies>\n  <inbound>\n    <base />\n    <rate-limit calls="5" renewal-period="60" />\n  </inbound>\n</policies>';

let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;
let records: RecordAccess<JwtPolicyRecord> & { data: Map<string, StoredRecord<JwtPolicyRecord>> };

useEmulator({}, (env) => ({ emu, ids, ports } = env));
beforeEach(async () => {
  records = memoryRecordStore<JwtPolicyRecord>("jwtpolicy");
  await emu.control.putPolicyRaw(target(), FOREIGN);
});

const FID = fragmentId("team-a", "orders", "uid-2");
const target = () => ({ serviceId: ids.apim.serviceId, apiId: ids.apim.apiId });

function policy(): ApimJwtPolicy {
  return {
    apiVersion: "laio.example.com/v1alpha1",
    kind: "ApimJwtPolicy",
    metadata: { name: "orders", namespace: "team-a", uid: "uid-2", generation: 1, finalizers: [FINALIZER] },
    spec: {
      apimServiceId: ids.apim.serviceId,
      target: { apiId: ids.apim.apiId },
      tenantId: ids.tenantId,
      audiences: [ids.ordersApi.identifierUri],
    },
  };
}

function pass(maxConflicts?: number) {
  const p = policy();
  const hooks = jwtPolicyPass(p, { ports: { apim: ports.apim, records } }, {}, () => undefined);
  return runRounds(hooks, p, { now: () => "2026-12-01T10:00:00Z", maxRounds: 4, maxConflicts });
}

const fail412 = (count?: number) =>
  emu.control.injectFault({
    match: { operation: "ApiPolicy_CreateOrUpdate" },
    action: { kind: "status", status: 412, code: "PreconditionFailed", message: "ETag mismatch" },
    ...(count !== undefined ? { count } : {}),
  });

describe("ApimJwtPolicy rounds against the emulator", () => {
  it("first pass installs fragment and include next to what is there, and ends observed", async () => {
    const r = await pass();
    expect(r.stoppedBy).toBeUndefined();
    expect(r.decision?.actions).toEqual([]);
    const doc = (await emu.control.getPolicyRaw(target()))!.xml;
    expect(doc).toContain('<rate-limit calls="5" renewal-period="60" />');
    expect(doc).toContain(`<include-fragment fragment-id="${FID}" />`);
    expect((await emu.control.listPolicyFragments(ids.apim.serviceId)).map((f) => f.fragmentId)).toEqual([
      FID,
    ]);
    // Write-ahead: the operator's record lists the fragment and the target it wrote to.
    expect([...records.data.values()].map((r) => r.data)).toEqual([
      {
        uid: "uid-2",
        fragments: [{ serviceId: ids.apim.serviceId, fragmentId: FID }],
        targets: [`${ids.apim.serviceId.toLowerCase()}|api/${ids.apim.apiId}`],
      },
    ]);
    expect(r.status?.appliedFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(r.reports.map((x) => x.event?.reason)).toEqual(["Applied"]);
  });

  it("a 412 on the document is a re-read: the pass decides again and the include lands", async () => {
    await fail412(1);
    const r = await pass();
    expect(r.stoppedBy).toBeUndefined();
    expect((await emu.control.getPolicyRaw(target()))!.xml).toContain(FID);
    expect(
      (await emu.control.requestLog({ operation: "ApiPolicy_CreateOrUpdate" })).map((e) => e.status),
    ).toEqual([412, 200]);
  });

  it("a document that keeps changing stops after the re-read budget as ConcurrentEdit, untouched", async () => {
    await fail412();
    const r = await pass(2);
    expect(isAzureError(r.stoppedBy, "PreconditionFailed")).toBe(true);
    expect(describeFailure(r.stoppedBy!, false)).toMatchObject({
      reason: "ConcurrentEdit",
      needsPerson: false,
    });
    expect((await emu.control.requestLog({ operation: "ApiPolicy_CreateOrUpdate" })).length).toBe(3);
    expect((await emu.control.getPolicyRaw(target()))!.xml).toBe(FOREIGN);
  });

  it("the fingerprint is the SHA-256 of the rule as rendered", async () => {
    const r = await pass();
    const fragment = (await emu.control.listPolicyFragments(ids.apim.serviceId))[0]!.xml;
    const rule = fragment.slice(fragment.indexOf("<validate-jwt"), fragment.indexOf("</validate-jwt>") + 15);
    const unindented = rule.replace(/\n {4}/g, "\n");
    expect(r.status?.appliedFingerprint).toBe(createHash("sha256").update(unindented).digest("hex"));
  });
});
