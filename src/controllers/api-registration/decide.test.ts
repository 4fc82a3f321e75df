import { describe, expect, it } from "vitest";
import type { ApiRegistration, ApiRegistrationSpec } from "../../api/v1alpha1/index.ts";
import type { ApplicationAppRole, ApplicationRegistration, ServicePrincipal } from "../../azure/ports.ts";
import { decide, rolesPatch } from "./decide.ts";
import type { RegistrationObservation } from "./model.ts";

const roleId = (value: string) => `id-${value}`;
const URI = "api://inventory";

function reg(
  spec: Partial<ApiRegistrationSpec> = {},
  meta: Partial<ApiRegistration["metadata"]> = {},
): ApiRegistration {
  return {
    apiVersion: "identity.logicapp.dev/v1alpha1",
    kind: "ApiRegistration",
    metadata: { name: "inventory", namespace: "team-a", uid: "u1", generation: 3, ...meta },
    spec: {
      displayName: "Inventory",
      identifierUris: [URI],
      appRoles: [{ value: "AddRole", displayName: "Add" }],
      ...spec,
    },
  };
}

const role = (value: string, over: Partial<ApplicationAppRole> = {}): ApplicationAppRole => ({
  id: roleId(value),
  value,
  displayName: value === "AddRole" ? "Add" : value,
  description: "",
  allowedMemberTypes: ["Application"],
  isEnabled: true,
  ...over,
});

function app(over: Partial<ApplicationRegistration> = {}): ApplicationRegistration {
  return {
    id: "obj-1",
    appId: "app-1",
    displayName: "Inventory",
    identifierUris: [URI],
    appRoles: [role("AddRole")],
    requestedAccessTokenVersion: 1,
    signInAudience: "AzureADMyOrg",
    ...over,
  };
}

const sp: ServicePrincipal = {
  id: "sp-1",
  appId: "app-1",
  displayName: "Inventory",
  servicePrincipalNames: [URI, "app-1"],
  appRoles: [],
  appOwnerOrganizationId: "tenant-1",
};
const claim = {
  applicationId: "obj-1",
  appId: "app-1",
  namespace: "team-a",
  name: "inventory",
  uid: "u1",
  created: true,
};
const owned = (o: Partial<RegistrationObservation> = {}): RegistrationObservation => ({
  app: app(),
  claim,
  servicePrincipal: sp,
  ...o,
});
const cond = (d: ReturnType<typeof decide>, type: string) => d.conditions.find((c) => c.type === type);

describe("ApiRegistration decide", () => {
  it("creates a missing application with deterministic role ids, v1 and single tenant", () => {
    const d = decide(reg(), {}, { roleId });
    expect(d.actions).toEqual([
      {
        type: "createApplication",
        app: {
          displayName: "Inventory",
          identifierUris: [URI],
          signInAudience: "AzureADMyOrg",
          requestedAccessTokenVersion: 1,
          appRoles: [role("AddRole")],
        },
      },
    ]);
    expect(cond(d, "Reconciling")?.status).toBe("True");
  });

  it("is Ready with ids in status when the application and SP match", () => {
    const d = decide(reg(), owned(), { roleId });
    expect(d.actions).toEqual([]);
    expect(cond(d, "Ready")).toMatchObject({ status: "True", reason: "Registered", observedGeneration: 3 });
    expect(d.status).toMatchObject({
      appId: "app-1",
      objectId: "obj-1",
      servicePrincipalId: "sp-1",
      tenantId: "tenant-1",
      tokenVersion: 1,
      adopted: false,
      appRoles: [{ value: "AddRole", id: "id-AddRole", enabled: true }],
    });
  });

  it("a display name change keeps the role id; an adopted role keeps the id it has", () => {
    const renamed = decide(reg({ appRoles: [{ value: "AddRole", displayName: "Add items" }] }), owned(), {
      roleId,
    });
    expect(renamed.actions).toEqual([
      {
        type: "patchApplication",
        id: "obj-1",
        why: "update",
        changes: { appRoles: [role("AddRole", { displayName: "Add items" })] },
      },
    ]);
    const adopted = decide(reg(), owned({ app: app({ appRoles: [role("AddRole", { id: "existing" })] }) }), {
      roleId,
    });
    expect(adopted.actions).toEqual([]);
  });

  it("removes an enabled role in two writes: disable (rest as desired), then remove", () => {
    const current = app({ appRoles: [role("AddRole"), role("ReadRole")] });
    const first = decide(reg(), owned({ app: current }), { roleId });
    expect(first.actions).toEqual([
      {
        type: "patchApplication",
        id: "obj-1",
        why: "disableRoles",
        changes: { appRoles: [role("AddRole"), role("ReadRole", { isEnabled: false })] },
      },
    ]);
    const second = decide(
      reg(),
      owned({ app: app({ appRoles: [role("AddRole"), role("ReadRole", { isEnabled: false })] }) }),
      { roleId },
    );
    expect(second.actions).toEqual([
      { type: "patchApplication", id: "obj-1", why: "update", changes: { appRoles: [role("AddRole")] } },
    ]);
  });

  it("rolesPatch: nothing when equal regardless of order and member-type order", () => {
    const a = [role("A", { allowedMemberTypes: ["User", "Application"] }), role("B")];
    const b = [role("B"), role("A", { allowedMemberTypes: ["Application", "User"] })];
    expect(rolesPatch(a, b)).toBeUndefined();
  });

  it("token version 2 is one PATCH; status reports what Graph shows", () => {
    const d = decide(reg({ requestedAccessTokenVersion: 2 }), owned(), { roleId });
    expect(d.actions).toEqual([
      { type: "patchApplication", id: "obj-1", why: "update", changes: { requestedAccessTokenVersion: 2 } },
    ]);
    expect(d.status.tokenVersion).toBe(1);
  });

  it("creates the SP, then waits through replication with a requeue", () => {
    const create = decide(reg(), owned({ servicePrincipal: undefined }), { roleId });
    expect(create.actions).toEqual([{ type: "createServicePrincipal", appId: "app-1" }]);
    const wait = decide(reg(), owned({ servicePrincipal: undefined, servicePrincipalPending: true }), {
      roleId,
      replicationPollMs: 700,
    });
    expect(wait.actions).toEqual([]);
    expect(wait.requeueAfterMs).toBe(700);
    expect(cond(wait, "Reconciling")).toMatchObject({ status: "True", reason: "WaitingForReplication" });
  });

  it("adoption without ownership is Stalled naming Application.ReadWrite.OwnedBy, with no write", () => {
    const d = decide(
      reg({ displayName: "Other" }),
      { app: app(), notOwner: "not an owner of app-1" },
      { roleId },
    );
    expect(d.actions).toEqual([]);
    expect(d.stalled).toBe(true);
    expect(cond(d, "Stalled")).toMatchObject({ status: "True", reason: "NotOwner" });
    expect(cond(d, "Stalled")?.message).toContain("Application.ReadWrite.OwnedBy");
  });

  it("an application claimed by another object, or a URI held by another application, is Stalled", () => {
    const claimed = decide(reg(), { app: app(), claimedBy: "team-b/inventory" }, { roleId });
    expect(cond(claimed, "Stalled")).toMatchObject({ reason: "ApplicationClaimed" });
    expect(claimed.actions).toEqual([]);
    const held = decide(
      reg({ identifierUris: [URI, "api://x"] }),
      owned({ urisHeldElsewhere: [{ uri: "api://x", appId: "app-9" }] }),
      { roleId },
    );
    expect(cond(held, "Stalled")).toMatchObject({ reason: "IdentifierUriInUse" });
    expect(held.actions).toEqual([]);
  });

  it("a tenancy refusal is Stalled with the policy's reason", () => {
    const d = decide(reg(), { tenancy: { reason: "NotAllowed", rule: "x", message: "no" } }, { roleId });
    expect(cond(d, "Stalled")).toMatchObject({ reason: "NotAllowed", message: "no" });
  });

  describe("deletion", () => {
    const deleting = (policy?: "Orphan" | "Delete") =>
      reg(policy ? { deletionPolicy: policy } : {}, { deletionTimestamp: "2026-12-04T00:00:00Z" });
    it("Orphan (default) finalizes without a write", () => {
      const d = decide(deleting(), owned(), { roleId });
      expect(d).toMatchObject({ finalize: true, actions: [] });
    });
    it("Delete is refused while bindings grant its roles", () => {
      const d = decide(deleting("Delete"), owned({ grantedBy: ["team-a/orders"] }), { roleId });
      expect(d.finalize).toBe(false);
      expect(d.actions).toEqual([]);
      expect(cond(d, "Stalled")).toMatchObject({ status: "True", reason: "RolesStillGranted" });
      expect(cond(d, "Stalled")?.message).toContain("team-a/orders");
    });
    it("Delete deletes only an application this object created", () => {
      expect(decide(deleting("Delete"), owned({ grantedBy: [] }), { roleId }).actions).toEqual([
        { type: "deleteApplication", id: "obj-1", appId: "app-1" },
      ]);
      const adopted = decide(deleting("Delete"), owned({ claim: { ...claim, created: false } }), { roleId });
      expect(adopted).toMatchObject({ finalize: true, actions: [] });
      expect(decide(deleting("Delete"), {}, { roleId })).toMatchObject({ finalize: true, actions: [] });
    });
  });
});
