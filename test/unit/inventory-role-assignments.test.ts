/**
 * The inventory's role-assignment table answers a principal's assignments from an index kept beside the map: after
 * any sequence of sets (new ids, re-sets, a principal changed under an id) and deletes, the index must say what a
 * scan of the map says, in the map's order.
 */
import { describe, expect, it } from "vitest";
import { RoleAssignmentTable } from "../../src/azure/inventory/inventory.ts";
import type { RoleAssignment } from "../../src/azure/ports.ts";

const PRINCIPALS = ["p-1", "P-1", "p-2", "p-3"];

function assignment(id: string, principalId: string): RoleAssignment {
  return {
    id,
    name: id,
    scope: "/subscriptions/s/resourceGroups/rg",
    roleDefinitionId: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/r",
    principalId,
  };
}

const scan = (t: RoleAssignmentTable, p: string) =>
  [...t.values()].filter((a) => a.principalId.toLowerCase() === p.toLowerCase());

describe("RoleAssignmentTable", () => {
  it("answers each principal's assignments as a scan of the table does", () => {
    let x = 11;
    const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const t = RoleAssignmentTable.of([
      assignment("a", "p-1"),
      assignment("b", "P-1"),
      assignment("c", "p-2"),
    ]);
    for (let step = 0; step < 500; step++) {
      const id = `ra-${Math.floor(next() * 40)}`;
      if (next() < 0.7) t.set(id, assignment(id, PRINCIPALS[Math.floor(next() * PRINCIPALS.length)]!));
      else t.delete(id);
      if (step % 25 === 0)
        for (const p of PRINCIPALS) expect(t.ofPrincipal(p), `${step} ${p}`).toEqual(scan(t, p));
    }
    for (const p of PRINCIPALS) expect(t.ofPrincipal(p)).toEqual(scan(t, p));
    t.clear();
    expect(t.ofPrincipal("p-1")).toEqual([]);
  });
});
