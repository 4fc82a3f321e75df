/**
 * The chart's admission CEL is hand-written YAML; this keeps it tied to the TypeScript it mirrors (the ARM ID
 * helpers and the built-in role/API facts), so the two cannot drift apart silently. Behaviour is tested on the real
 * API server in test/cluster/tenancy-admission.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { celBreadthRank, celWithin } from "../../src/api/v1alpha1/arm-id.ts";
import {
  FIRST_PARTY_APP_IDS,
  KNOWN_ROLES,
  PRIVILEGED_ROLE_GUIDS,
  ROLE,
} from "../../src/controllers/tenancy/builtins.ts";

const template = readFileSync(
  new URL("../../charts/logicapp-identity-operator/templates/tenancy-admission.yaml", import.meta.url),
  "utf8",
);
const variable = (name: string) => {
  const m = new RegExp(
    `- name: ${name}\\n[\\s\\S]*?expression: (>-\\n[\\s\\S]*?)(?=\\n    - name:|\\n  validations:)`,
  ).exec(template);
  return m?.[1] ?? "";
};

describe("admission CEL mirrors the TypeScript rules", () => {
  it("uses the ARM ID helpers' containment and breadth expressions", () => {
    expect(template).toContain(celWithin("{{ index . 0 }}", "{{ index . 1 }}"));
    expect(template).toContain(celBreadthRank("{{ . }}"));
  });

  it("knows every built-in role name the matcher knows, with the same GUID", () => {
    const known = variable("knownRoles");
    for (const r of KNOWN_ROLES) expect(known).toContain(`'${r.name.toLowerCase()}': '${r.guid}'`);
  });

  it("denies the same privileged and broad built-ins, and the same first-party APIs", () => {
    const line = (name: string) =>
      new RegExp(`- name: ${name}\\n\\s+expression: "(.*)"`).exec(template)?.[1] ?? "";
    expect(new Set(line("privilegedBuiltIns").match(/[0-9a-f-]{36}/g))).toEqual(PRIVILEGED_ROLE_GUIDS);
    expect(new Set(line("broadBuiltIns").match(/[0-9a-f-]{36}/g))).toEqual(
      new Set(KNOWN_ROLES.filter((r) => r.broad).map((r) => r.guid)),
    );
    expect(line("broadBuiltIns")).toContain(ROLE.contributor);
    expect(new Set(line("firstPartyAppIds").match(/[0-9a-f-]{36}/g))).toEqual(FIRST_PARTY_APP_IDS);
  });
});
