/**
 * `apimServiceId` is immutable, so a record names another APIM service only when an object is restored (new UID,
 * no status) with a different service: the record's target there is cleaned (the include, byte for byte), and the
 * fragment there, which nothing includes any more, is deleted and leaves the record. It used to stay for good.
 * Real rounds of the JWT kind against the emulator, through the real @azure clients.
 */
import { describe, expect, it } from "vitest";
import type { RunningEmulator, ScenarioIds } from "../../emulator/index.ts";
import { useEmulator } from "../support/emulator.ts";
import { FINALIZER, type ApimJwtPolicy } from "../../src/api/v1alpha1/index.ts";
import { fragmentId } from "../../src/azure/naming.ts";
import type { AzurePorts } from "../../src/azure/ports.ts";
import { jwtPolicyPass } from "../../src/controllers/jwt-policy/kind.ts";
import type { JwtPolicyRecord } from "../../src/controllers/shared/ownership.ts";
import { runRounds } from "../../src/controllers/shared/rounds.ts";
import { memoryRecordStore } from "../../src/runtime/records.ts";

const FOREIGN =
  '<policies>\r\n  <inbound>\r\n    <base />\r\n    <set-header name="x-team" exists-action="override"><value>orders</value></set-header>\r\n  </inbound>\r\n  <backend>\r\n    <base />\r\n  </backend>\r\n  <outbound>\r\n    <base />\r\n  </outbound>\r\n  <on-error>\r\n    <base />\r\n  </on-error>\r\n</policies>';
let emu: RunningEmulator;
let ids: ScenarioIds;
let ports: AzurePorts;

useEmulator({}, (env) => ({ emu, ids, ports } = env));

function policy(uid: string, serviceId: string): ApimJwtPolicy {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "ApimJwtPolicy",
    metadata: { name: "orders-jwt", namespace: "team-a", uid, generation: 1, finalizers: [FINALIZER] },
    spec: {
      apimServiceId: serviceId,
      target: { apiId: ids.apim.apiId },
      tenantId: ids.tenantId,
      audiences: ["api://orders"],
    },
  } as ApimJwtPolicy;
}

describe("a JWT policy restored onto another APIM service", () => {
  it("takes its include out of the old service's document byte for byte and deletes its fragment there", async () => {
    const other = await emu.control.seedApimService({
      subscriptionId: ids.subscriptionId,
      resourceGroup: ids.resourceGroup,
      name: "apim-orders-west",
    });
    await emu.control.seedApimApi({ serviceId: other.id, apiId: ids.apim.apiId });
    const oldTarget = { serviceId: ids.apim.serviceId, apiId: ids.apim.apiId };
    await emu.control.putPolicyRaw(oldTarget, FOREIGN);
    const records = memoryRecordStore<JwtPolicyRecord>("jwtpolicy");
    const run = async (p: ApimJwtPolicy) => {
      const r = await runRounds(
        jwtPolicyPass(p, { ports: { apim: ports.apim, records } }, {}, () => undefined),
        p,
        { now: () => "2026-12-04T10:00:00Z", maxRounds: 4 },
      );
      expect(r.stoppedBy).toBeUndefined();
      return r;
    };
    const fragmentsOn = async (serviceId: string) =>
      (await emu.control.listPolicyFragments(serviceId)).map((f) => f.fragmentId);

    await run(policy("uid-1", ids.apim.serviceId));
    const first = fragmentId("team-a", "orders-jwt", "uid-1");
    expect(await fragmentsOn(ids.apim.serviceId)).toEqual([first]);
    expect((await emu.control.getPolicyRaw(oldTarget))!.xml).not.toBe(FOREIGN);

    // The cluster is lost and the object restored (new UID, no status) naming the other service.
    await run(policy("uid-2", other.id));
    expect((await emu.control.getPolicyRaw(oldTarget))!.xml).toBe(FOREIGN);
    expect(await fragmentsOn(ids.apim.serviceId)).toEqual([]);
    const second = fragmentId("team-a", "orders-jwt", "uid-2");
    expect(await fragmentsOn(other.id)).toEqual([second]);
    expect((await emu.control.getPolicyRaw({ serviceId: other.id, apiId: ids.apim.apiId }))!.xml).toContain(
      second,
    );
    const record = await records.get("team-a/orders-jwt", AbortSignal.timeout(5_000));
    expect(record?.data.fragments.map((f) => [f.serviceId.toLowerCase(), f.fragmentId])).toEqual([
      [other.id.toLowerCase(), second],
    ]);
    expect(record?.data.targets.map((t) => t.split("|")[0])).toEqual([other.id.toLowerCase()]);
  });
});
