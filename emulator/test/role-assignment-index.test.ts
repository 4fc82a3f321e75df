/**
 * The role-assignment index (emulator/arm/role-assignment-index.ts) must not change what the emulator answers:
 * `listAssignments` against the scan it replaced, over random worlds, after writes through the helpers and after
 * the direct writes it promises to survive (deletes, changes in place, a reset), in the same order.
 */
import { describe, expect, it } from "vitest";
import { listAssignments, normaliseScope } from "../arm/authorization.ts";
import { deleteRoleAssignment, putRoleAssignment, roleAssignmentsOf } from "../arm/role-assignment-index.ts";
import { key } from "../ids.ts";
import { Runtime } from "../runtime.ts";
import { emptyState, type RoleAssignmentRecord } from "../state.ts";

/** The filter as it was before the index (emulator/arm/authorization.ts at 9d4ab4a), the reference. */
function scan(rt: Runtime, rawScope: string, atScope: boolean, principalId?: string): RoleAssignmentRecord[] {
  const atOrBelow = (inner: string, outer: string): boolean => {
    if (outer === "/") return true;
    const i = key(inner);
    const o = key(outer);
    return i === o || i.startsWith(`${o}/`);
  };
  const scope = normaliseScope(rawScope);
  return Object.values(rt.state.roleAssignments).filter((a) => {
    const above = atOrBelow(scope, a.scope);
    const below = atOrBelow(a.scope, scope);
    if (atScope ? !above : !(above || below)) return false;
    return !principalId || a.principalId.toLowerCase() === principalId.toLowerCase();
  });
}

const SCOPES = [
  "/",
  "/subscriptions/S1",
  "/subscriptions/s1/resourceGroups/rg",
  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-1",
  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-10",
  "/subscriptions/s1/resourceGroups/rg2",
  "/subscriptions/s2",
];
const PRINCIPALS = ["p-1", "P-1", "p-2", "p-3"];

function record(name: string, scope: string, principalId: string): RoleAssignmentRecord {
  return {
    name,
    scope,
    roleDefinitionName: "4633458b-17de-408a-b874-0445c86b69e6",
    principalId,
    principalType: "ServicePrincipal",
    description: null,
    condition: null,
    conditionVersion: null,
    delegatedManagedIdentityResourceId: null,
    createdOn: "2026-01-01T00:00:00Z",
    updatedOn: "2026-01-01T00:00:00Z",
    createdBy: null,
    updatedBy: null,
  };
}

/** A small deterministic generator (the test must replay the same worlds). */
function random(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function expectSameAnswers(rt: Runtime): void {
  for (const scope of [
    ...SCOPES,
    "/subscriptions/s1/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/kv-1/",
  ])
    for (const atScope of [false, true])
      for (const p of [undefined, ...PRINCIPALS]) {
        const filter = [atScope ? "atScope()" : "", p ? `principalId eq '${p}'` : ""]
          .filter(Boolean)
          .join(" and ");
        expect(listAssignments(rt, scope, filter || null), `${scope} ${filter}`).toEqual(
          scan(rt, scope, atScope, p),
        );
      }
}

describe("role-assignment index", () => {
  it("answers every list exactly as the scan did, through helper writes and writes that bypass it", () => {
    const rt = new Runtime();
    const next = random(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    for (let step = 0; step < 400; step++) {
      const name = `ra-${Math.floor(next() * 60)}`;
      const r = next();
      if (r < 0.55) putRoleAssignment(rt, record(name, pick(SCOPES), pick(PRINCIPALS)));
      else if (r < 0.8) deleteRoleAssignment(rt, key(name));
      else if (r < 0.9) {
        // Behind the index's back, as a test poking the state might: one deleted.
        delete rt.state.roleAssignments[Object.keys(rt.state.roleAssignments)[0] ?? ""];
      } else {
        // A record changed in place (scope, or principal between ids that differ only in case).
        const some = Object.values(rt.state.roleAssignments)[0];
        if (some && next() < 0.5) some.scope = pick(SCOPES);
        else if (some) some.principalId = some.principalId === "p-1" ? "P-1" : some.principalId;
      }
      if (step % 20 === 0) expectSameAnswers(rt);
    }
    expectSameAnswers(rt);
    expect(Object.keys(rt.state.roleAssignments).length).toBeGreaterThan(10);
  });

  it("a reset or restored state starts a new index", () => {
    const rt = new Runtime();
    putRoleAssignment(rt, record("a", SCOPES[1]!, "p-1"));
    expect(roleAssignmentsOf(rt, "P-1").map((a) => a.name)).toEqual(["a"]);
    const restored = emptyState();
    restored.roleAssignments["b"] = record("b", SCOPES[1]!, "p-1");
    rt.state = restored;
    expect(roleAssignmentsOf(rt, "p-1").map((a) => a.name)).toEqual(["b"]);
    rt.state = emptyState();
    expect(roleAssignmentsOf(rt, "p-1")).toEqual([]);
  });
});
