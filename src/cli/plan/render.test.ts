import { describe, expect, it } from "vitest";
import { progress } from "../progress.ts";
import { exitCodeOf, type PlanResult } from "./engine.ts";
import { renderJson, renderMarkdown, renderText } from "./render.ts";

const result: PlanResult = {
  celBy: "local",
  objects: [
    {
      kind: "LogicAppIdentityBinding",
      namespace: "team-a",
      name: "orders",
      source: "a.yaml#1",
      changes: [
        {
          op: "create",
          summary: 'grant "Reader" (acdd72a7-3385-48ef-bd42-f606fba81ae7) on /s to p',
          fields: { role: "Reader", roleDefinitionGuid: "acdd72a7-3385-48ef-bd42-f606fba81ae7" },
          write: { method: "PUT", path: "/s/providers/Microsoft.Authorization/roleAssignments/n" },
        },
      ],
      refusals: [],
      notes: [],
    },
    {
      kind: "ApimJwtPolicy",
      namespace: "team-a",
      name: "jwt",
      source: "a.yaml#2",
      changes: [],
      refusals: [{ reason: "NotAllowed", message: "service x|y is not allowed" }],
      notes: [],
      diff: "--- a\n+++ b\n+<include-fragment />",
    },
  ],
};

describe("plan output", () => {
  it("an app role removal's two writes count as changes, marked ~", () => {
    const reg: PlanResult = {
      celBy: "local",
      objects: [
        {
          kind: "ApiRegistration",
          namespace: "team-a",
          name: "orders-api",
          source: "r.yaml#1",
          changes: [
            {
              op: "disable-roles",
              summary: "disable AddRole",
              fields: {},
              write: { method: "PATCH", path: "/v1.0/applications/a" },
            },
            {
              op: "update",
              summary: "remove AddRole",
              fields: {},
              write: { method: "PATCH", path: "/v1.0/applications/a" },
            },
          ],
          refusals: [],
          notes: [],
        },
      ],
    };
    const text = renderText(reg, []);
    expect(text).toContain("  ~ disable AddRole");
    expect(text).toContain("Plan: 0 to add, 2 to change, 0 to remove, 0 to adopt");
  });

  it("markdown: a summary table, then one <details> per object (refused ones open), pipes escaped", () => {
    const md = renderMarkdown(result, []);
    expect(md).toContain("| Object | Source | Result | Add | Remove | Refused |");
    expect(md).toContain("| `LogicAppIdentityBinding team-a/orders` | a.yaml#1 | 1 change(s) | 1 | 0 | 0 |");
    expect(md).toContain(
      "<details><summary><code>LogicAppIdentityBinding team-a/orders</code>: 1 change(s)</summary>",
    );
    expect(md).toContain("<details open><summary><code>ApimJwtPolicy team-a/jwt</code>: refused</summary>");
    expect(md).toContain("service x\\|y is not allowed");
    expect(md).toContain("```diff\n--- a");
  });

  it("text and JSON carry the same facts; a refusal is exit 1, changes alone exit 2, nothing exit 0", () => {
    expect(renderText(result, [])).toMatch(/\+ grant "Reader" \(acdd72a7-3385-48ef-bd42-f606fba81ae7\)/);
    expect(JSON.parse(renderJson(result, [], 1))).toMatchObject({
      exitCode: 1,
      objects: [{ name: "orders" }, { name: "jwt" }],
    });
    expect(exitCodeOf(result, [])).toBe(1);
    expect(exitCodeOf({ ...result, objects: [result.objects[0]!] }, [])).toBe(2);
    expect(exitCodeOf({ ...result, objects: [{ ...result.objects[0]!, changes: [] }] }, [])).toBe(0);
    expect(exitCodeOf({ ...result, objects: [] }, ["x.yaml: YAML does not parse"])).toBe(1);
  });

  it("progress is drawn on a terminal only, never in CI", () => {
    const written: string[] = [];
    const stream = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const ci = process.env.CI;
    try {
      delete process.env.CI;
      const p = progress("plan", stream);
      p.update(1, 3);
      p.end();
      expect(written[0]).toBe("\rplan: 1/3 objects observed");
      written.length = 0;
      process.env.CI = "true";
      progress("plan", stream).update(1, 3);
      progress("plan", { ...stream, isTTY: false } as unknown as NodeJS.WriteStream).update(1, 3);
      expect(written).toEqual([]);
    } finally {
      if (ci === undefined) delete process.env.CI;
      else process.env.CI = ci;
    }
  });
});
