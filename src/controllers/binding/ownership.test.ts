import { describe, expect, it } from "vitest";
import { FINALIZER, type LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { ownershipMarker } from "../../azure/naming.ts";
import { emptyBindingRecord, type BindingRecord, type ClaimCandidate } from "../shared/ownership.ts";
import { recordKeyOf } from "../shared/ownership-store.ts";
import type { BindingObservation } from "./model.ts";
import {
  BindingRecords,
  memoryRecordStore,
  type BindingClaims,
  type BindingRecordStore,
} from "./ownership.ts";

const LA = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders";
const OLD_LA = LA.replace("orders", "old");
const SP = "sp-1";
const ROLE = "role-1";
const P1 = "11111111-1111-1111-1111-111111111111";
const P2 = "22222222-2222-2222-2222-222222222222";
const KEY = recordKeyOf({ namespace: "team", name: "orders" });
const signal = new AbortController().signal;

function binding(uid = "uid-1", logicAppId = LA): LogicAppIdentityBinding {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "LogicAppIdentityBinding",
    metadata: { name: "orders", namespace: "team", uid, finalizers: [FINALIZER] },
    spec: { logicAppId, identity: { type: "SystemAssigned" } },
  };
}

function observed(principal: string | undefined, over: Partial<BindingObservation> = {}): BindingObservation {
  return {
    logicApp: {
      exists: true,
      kind: "Consumption",
      identity: principal
        ? { type: "SystemAssigned", principalId: principal, userAssigned: [] }
        : { type: "None", userAssigned: [] },
    },
    roles: [],
    roleAssignments: [],
    apis: [],
    appRoleAssignments: { [SP]: [] },
    applyFailures: {},
    createdAppRoleAssignmentIds: [],
    ...over,
  };
}

/** Claims held in memory, so a test can see which Logic Apps are held and by whom. */
function memoryClaims(): BindingClaims & { held: Map<string, string> } {
  const held = new Map<string, string>();
  return {
    held,
    claim: async (self: ClaimCandidate) => {
      const k = self.logicAppId.toLowerCase();
      const holder = held.get(k);
      const me = `${self.namespace}/${self.name}`;
      if (holder && holder !== me) return holder;
      held.set(k, me);
      return undefined;
    },
    release: async (self, logicAppId) => {
      if (held.get(logicAppId.toLowerCase()) === `${self.namespace}/${self.name}`)
        held.delete(logicAppId.toLowerCase());
    },
  };
}

async function stored(records: BindingRecordStore): Promise<BindingRecord | undefined> {
  return (await records.get(KEY, signal))?.data;
}

const assignment = (principal: string, id: string) => ({
  id,
  resourceId: SP,
  principalId: principal,
  appRoleId: ROLE,
});

describe("OwnershipSession", () => {
  it("write-ahead: the intent is recorded before the create, the ID after it", async () => {
    const records = memoryRecordStore();
    const seam = new BindingRecords({ records });
    const b = binding();
    const s = seam.open(b, signal, () => []);
    await s.open();
    const create = {
      type: "createAppRoleAssignment" as const,
      key: "k",
      resourceId: SP,
      principalId: P1,
      appRoleId: ROLE,
      driftRepair: false,
    };
    await seam.recordIntent(b, "LogicAppIdentityBinding", [create], {});
    expect((await stored(records))?.graph).toEqual([
      { resourceId: SP, principalId: P1, appRoleId: ROLE, state: "intent" },
    ]);
    await s.recordApplied([{ action: create, outcome: "done", detail: "ara-1" }]);
    expect((await stored(records))?.graph).toEqual([
      { resourceId: SP, principalId: P1, appRoleId: ROLE, assignmentId: "ara-1", state: "created" },
    ]);
  });

  it("an intent whose create met someone else's equal grant is dropped, so it never becomes ours", async () => {
    const records = memoryRecordStore();
    const seam = new BindingRecords({ records });
    const b = binding();
    const s = seam.open(b, signal, () => []);
    await s.open();
    const create = {
      type: "createAppRoleAssignment" as const,
      key: "k",
      resourceId: SP,
      principalId: P1,
      appRoleId: ROLE,
      driftRepair: false,
    };
    await seam.recordIntent(b, "LogicAppIdentityBinding", [create], {});
    await s.recordApplied([{ action: create, outcome: "adopted" }]);
    expect((await stored(records))?.graph).toEqual([]);
  });

  it("settle: an intent found in Graph becomes created, one absent is dropped, a vanished grant is forgotten", async () => {
    const records = memoryRecordStore();
    await records.put(
      KEY,
      {
        ...emptyBindingRecord({ namespace: "team", name: "orders", uid: "uid-1" }, LA),
        graph: [
          { resourceId: SP, principalId: P1, appRoleId: ROLE, state: "intent" },
          { resourceId: SP, principalId: P2, appRoleId: ROLE, state: "intent" },
          { resourceId: SP, principalId: P1, appRoleId: "gone", assignmentId: "ara-gone", state: "created" },
        ],
      },
      undefined,
      signal,
    );
    const s = new BindingRecords({ records }).open(binding(), signal, () => []);
    await s.open();
    const r = await s.settle(
      binding(),
      observed(P1, { appRoleAssignments: { [SP]: [assignment(P1, "ara-1")] } }),
    );
    expect(r?.graph).toEqual([
      { resourceId: SP, principalId: P1, appRoleId: ROLE, assignmentId: "ara-1", state: "created" },
    ]);
    expect((await stored(records))?.graph).toEqual(r?.graph);
  });

  it("settle: a role assignment carrying this UID's marker but missing from the record is recorded", async () => {
    const records = memoryRecordStore();
    const s = new BindingRecords({ records }).open(binding(), signal, () => []);
    await s.open();
    const ra = {
      id: "/scope/providers/Microsoft.Authorization/roleAssignments/x",
      name: "x",
      scope: "/scope",
      roleDefinitionId: "rd",
      principalId: P1,
      description: ownershipMarker("team", "orders", "uid-1"),
    };
    const foreign = {
      ...ra,
      id: `${ra.id}-other`,
      description: ownershipMarker("team", "orders", "uid-other"),
    };
    await s.settle(binding(), observed(P1, { roleAssignments: [ra, foreign] }));
    expect((await stored(records))?.rbac).toEqual([
      { id: ra.id, scope: "/scope", roleDefinitionId: "rd", principalId: P1 },
    ]);
  });

  it("a restored object (new UID) takes its record over on open", async () => {
    const records = memoryRecordStore();
    await records.put(
      KEY,
      emptyBindingRecord({ namespace: "team", name: "orders", uid: "uid-1" }, LA),
      undefined,
      signal,
    );
    const s = new BindingRecords({ records }).open(binding("uid-2"), signal, () => []);
    await s.open();
    expect(s.record?.uid).toBe("uid-2");
    expect((await stored(records))?.uid).toBe("uid-2");
  });

  it("another binding holding the claim: claimedBy names it, and the record is not touched", async () => {
    const records = memoryRecordStore();
    const claims = memoryClaims();
    claims.held.set(LA.toLowerCase(), "other/first");
    const s = new BindingRecords({ records, claims }).open(binding(), signal, () => []);
    await s.open();
    expect(s.claimedBy).toBe("other/first");
    await s.settle(binding(), observed(P1, { appRoleAssignments: { [SP]: [assignment(P1, "a")] } }));
    expect(await stored(records)).toBeUndefined();
  });

  it("a moved spec keeps the old Logic App's claim until the record holds no grant of its principal", async () => {
    const records = memoryRecordStore();
    const claims = memoryClaims();
    claims.held.set(OLD_LA.toLowerCase(), "team/orders");
    await records.put(
      KEY,
      {
        ...emptyBindingRecord({ namespace: "team", name: "orders", uid: "uid-1" }, OLD_LA),
        graph: [
          { resourceId: SP, principalId: P1, appRoleId: ROLE, assignmentId: "old-1", state: "created" },
        ],
      },
      undefined,
      signal,
    );
    const moved = binding("uid-1", LA);
    const s = new BindingRecords({ records, claims }).open(moved, signal, () => []);
    await s.open();
    expect(claims.held.get(LA.toLowerCase())).toBe("team/orders");
    // The old principal's grant is still there: the old claim stays.
    await s.settle(moved, observed(P2, { appRoleAssignments: { [SP]: [assignment(P1, "old-1")] } }));
    expect(claims.held.get(OLD_LA.toLowerCase())).toBe("team/orders");
    // Revoked: the old Logic App is let go.
    await s.settle(moved, observed(P2, { appRoleAssignments: { [SP]: [] } }));
    expect(claims.held.has(OLD_LA.toLowerCase())).toBe(false);
    expect((await stored(records))?.logicAppId).toBe(LA.toLowerCase());
  });

  it("finalize deletes the record and releases the claim", async () => {
    const records = memoryRecordStore();
    const claims = memoryClaims();
    const seam = new BindingRecords({ records, claims });
    const b = binding();
    const s = seam.open(b, signal, () => []);
    await s.open();
    await s.writeIntent([
      {
        type: "setIdentity",
        desired: { type: "SystemAssigned", userAssignedIdentityIds: [] },
        why: "enable",
      },
    ]);
    expect((await stored(records))?.identity.enabledByOperator).toBe(true);
    await s.finalize();
    expect(await stored(records)).toBeUndefined();
    expect(claims.held.size).toBe(0);
    await expect(seam.recordIntent(b, "LogicAppIdentityBinding", [], {})).rejects.toThrow(
      /no ownership session/,
    );
  });
});
