/** plan's three outputs: text for a terminal, Markdown for a PR comment (summary table, <details> per object), JSON. */
import type { ObjectPlan } from "./model.ts";
import type { PlanResult } from "./engine.ts";

const keyOf = (o: ObjectPlan) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;
const changed = (o: ObjectPlan) => o.changes.filter((c) => c.op !== "exists").length;
const verdictOf = (o: ObjectPlan) =>
  o.error
    ? "error"
    : o.refusals.length > 0
      ? "refused"
      : changed(o) > 0
        ? `${changed(o)} change(s)`
        : "no changes";

function counts(objects: readonly ObjectPlan[]) {
  const n = (op: string[]) =>
    objects.reduce((s, o) => s + o.changes.filter((c) => op.includes(c.op)).length, 0);
  return {
    create: n(["create", "enable-identity", "attach-identity", "re-grant", "repair-identity"]),
    // disable-roles: an ApiRegistration's first of two writes removing an app role (the role is kept, disabled).
    update: n(["update", "migrate", "disable-roles"]),
    adopt: n(["adopt"]),
    remove: n(["revoke", "sweep", "delete", "disable-identity"]),
    refused: objects.reduce((s, o) => s + o.refusals.length, 0),
    errors: objects.filter((o) => o.error).length,
  };
}

export function summaryLine(result: PlanResult): string {
  const c = counts(result.objects);
  return `Plan: ${c.create} to add, ${c.update} to change, ${c.remove} to remove, ${c.adopt} to adopt; ${c.refused} refused, ${c.errors} error(s).`;
}

export function renderText(result: PlanResult, loadErrors: readonly string[]): string {
  const lines: string[] = [];
  for (const e of loadErrors) lines.push(`error: ${e}`);
  for (const o of result.objects) {
    lines.push(
      `${keyOf(o)}  (${o.source})${o.cluster ? `  [cluster: ${o.cluster}${o.clusterDiff ? `: ${o.clusterDiff.join(", ")}` : ""}]` : ""}`,
    );
    if (o.error) lines.push(`  ! ${o.error}`);
    for (const c of o.changes) {
      lines.push(
        `  ${c.op === "revoke" || c.op === "sweep" || c.op === "delete" ? "-" : c.op === "adopt" || c.op === "exists" ? "=" : c.op === "update" || c.op === "disable-roles" ? "~" : "+"} ${c.summary}${c.afterApply ? "  (after apply)" : ""}`,
      );
      for (const [k, v] of Object.entries(c.fields)) lines.push(`      ${k}: ${v}`);
    }
    for (const r of o.refusals) lines.push(`  x refused ${r.reason}: ${r.message}`);
    for (const n of o.notes) lines.push(`  # ${n}`);
    if (o.diff) lines.push(...o.diff.split("\n").map((l) => `    ${l}`));
    if (!o.error && changed(o) === 0 && o.refusals.length === 0) lines.push("  no changes");
    lines.push("");
  }
  lines.push(summaryLine(result));
  lines.push(
    result.celBy === "api-server"
      ? "Validated by the API server (server-side dry-run: schema and every CEL rule)."
      : "Validated locally: CRD schema and CEL rules except transition rules (self == oldSelf); use --cluster for the API server's verdict.",
  );
  return lines.join("\n") + "\n";
}

const esc = (s: string) => s.replaceAll("|", "\\|").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

export function renderMarkdown(result: PlanResult, loadErrors: readonly string[]): string {
  const c = counts(result.objects);
  const out: string[] = ["### logicapp-identity-operator plan", ""];
  out.push("| Object | Source | Result | Add | Remove | Refused |", "|---|---|---|---|---|---|");
  for (const o of result.objects) {
    const add = o.changes.filter(
      (x) => !["revoke", "sweep", "delete", "disable-identity", "adopt", "exists"].includes(x.op),
    ).length;
    const rem = o.changes.filter((x) =>
      ["revoke", "sweep", "delete", "disable-identity"].includes(x.op),
    ).length;
    out.push(
      `| \`${esc(keyOf(o))}\` | ${esc(o.source)} | ${verdictOf(o)} | ${add} | ${rem} | ${o.refusals.length} |`,
    );
  }
  out.push("", `**${summaryLine(result)}**`, "");
  for (const e of loadErrors) out.push(`> :x: ${esc(e)}`, "");
  for (const o of result.objects) {
    out.push(
      `<details${o.error || o.refusals.length > 0 ? " open" : ""}><summary><code>${esc(keyOf(o))}</code>: ${verdictOf(o)}</summary>`,
      "",
    );
    if (o.cluster)
      out.push(
        `Cluster: **${o.cluster}**${o.clusterDiff ? ` (${o.clusterDiff.map((d) => `\`${d}\``).join(", ")})` : ""}`,
        "",
      );
    if (o.error) out.push(`:x: ${esc(o.error)}`, "");
    if (o.changes.length > 0) {
      out.push("| Change | What | Details |", "|---|---|---|");
      for (const ch of o.changes)
        out.push(
          `| ${ch.op}${ch.afterApply ? " (after apply)" : ""} | ${esc(ch.summary)} | ${Object.entries(
            ch.fields,
          )
            .map(([k, v]) => `${k}: \`${esc(v)}\``)
            .join("<br>")} |`,
        );
      out.push("");
    }
    for (const r of o.refusals) out.push(`- :no_entry: **${r.reason}**: ${esc(r.message)}`);
    for (const n of o.notes) out.push(`- ${esc(n)}`);
    if (o.diff) out.push("", "```diff", o.diff, "```");
    out.push("", "</details>", "");
  }
  out.push(
    result.celBy === "api-server"
      ? "_Validated by the API server (server-side dry-run)._"
      : "_Validated locally (CRD schema and CEL rules except transition rules)._",
  );
  void c;
  return out.join("\n") + "\n";
}

export function renderJson(result: PlanResult, loadErrors: readonly string[], exitCode: number): string {
  return (
    JSON.stringify(
      { exitCode, summary: summaryLine(result), celBy: result.celBy, loadErrors, objects: result.objects },
      null,
      2,
    ) + "\n"
  );
}
