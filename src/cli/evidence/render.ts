/** evidence's outputs: Markdown for a review, CSV (RFC 4180, CRLF) for a spreadsheet, JSON (docs/evidence.schema.json). */
import type { Evidence } from "./schema.ts";

const COLUMNS = [
  "namespace",
  "binding",
  "logicAppId",
  "identityType",
  "principalId",
  "clientId",
  "tenantId",
  "grantType",
  "scopeOrApi",
  "role",
  "roleGuidOrAppRoleId",
  "assignmentId",
  "ownership",
  "recorded",
  "state",
  "since",
  "verify",
] as const;

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. A leading =+-@ is defused for spreadsheets. */
export function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function renderCsv(e: Evidence): string {
  const rows: string[][] = [[...COLUMNS]];
  for (const b of e.bindings) {
    const id = [
      b.namespace,
      b.name,
      b.logicAppId,
      b.identityType ?? "",
      b.principalId ?? "",
      b.clientId ?? "",
      b.tenantId ?? "",
    ];
    rows.push([...id, "identity", "", "", "", "", "", "", "", "", b.identityVerify ?? ""]);
    for (const r of b.rbac)
      rows.push([
        ...id,
        "rbac",
        r.scope,
        r.role,
        r.roleDefinitionGuid ?? "",
        r.assignmentId ?? "",
        r.ownership,
        String(r.recorded),
        r.state ?? "",
        r.since ?? "",
        r.verify ?? "",
      ]);
    for (const a of b.appRoles)
      rows.push([
        ...id,
        "appRole",
        a.api,
        a.appRole,
        a.appRoleId ?? "",
        a.assignmentId ?? "",
        a.ownership,
        String(a.recorded),
        a.state ?? "",
        a.since ?? "",
        a.verify ?? "",
      ]);
    // The connection's access policy: scopeOrApi the connection, role the policy, assignmentId its ARM ID.
    for (const c of b.connections)
      rows.push([
        ...id,
        "connection",
        c.connectionId,
        c.policy,
        "",
        c.policyId,
        "Created",
        "true",
        c.state,
        "",
        c.verify ?? "",
      ]);
  }
  return rows.map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

const md = (s: string | undefined) => (s ?? "").replaceAll("|", "\\|");
const flag = (v: string | undefined) => (v && v !== "OK" ? ` **${v}**` : v === "OK" ? " OK" : "");

export function renderMarkdown(e: Evidence): string {
  const out = [
    `# Access evidence (${e.scope === "*" ? "all namespaces" : `namespace ${e.scope}`})`,
    "",
    `Generated ${e.generatedAt}${e.verified ? "; Azure re-read (--verify)" : "; from the cluster's status and records (not re-read from Azure)"}.`,
    "",
  ];
  for (const b of e.bindings) {
    out.push(`## ${b.namespace}/${b.name}`, "");
    out.push(`- Logic App: \`${b.logicAppId}\``);
    out.push(
      `- Identity: ${b.identityType ?? "?"}, principal \`${b.principalId ?? "none"}\`${b.clientId ? `, client \`${b.clientId}\`` : ""}, tenant \`${b.tenantId ?? "?"}\`${flag(b.identityVerify)}`,
    );
    if (b.lastHeal)
      out.push(
        `- Last heal: ${b.lastHeal.time}: \`${b.lastHeal.previousPrincipalId}\` → \`${b.lastHeal.principalId}\`, ${b.lastHeal.regranted} re-granted, ${b.lastHeal.swept} swept`,
      );
    out.push(
      `- Conditions: ${b.conditions.map((c) => `${c.type}=${c.status} (${c.reason})`).join(", ") || "none"}`,
      "",
    );
    if (b.rbac.length > 0) {
      out.push(
        "| Scope | Role | Role GUID | Assignment ID | Ownership | Recorded | Since | Verify |",
        "|---|---|---|---|---|---|---|---|",
      );
      for (const r of b.rbac)
        out.push(
          `| \`${md(r.scope)}\` | ${md(r.role)} | \`${md(r.roleDefinitionGuid)}\` | \`${md(r.assignmentId)}\` | ${r.ownership} | ${r.recorded ? "yes" : "no"} | ${md(r.since)} | ${md(r.verify)} |`,
        );
      out.push("");
    }
    if (b.appRoles.length > 0) {
      out.push(
        "| API | App role | App role ID | Assignment ID | Ownership | Recorded | Since | Verify |",
        "|---|---|---|---|---|---|---|---|",
      );
      for (const a of b.appRoles)
        out.push(
          `| ${md(a.api)}${a.registration ? ` (ApiRegistration ${md(a.registration.namespace)}/${md(a.registration.name)}${a.registration.identifierUri ? ` \`${md(a.registration.identifierUri)}\`` : ""}, v${a.registration.tokenVersion ?? 1} tokens)` : ""} | ${md(a.appRole)} | \`${md(a.appRoleId)}\` | \`${md(a.assignmentId)}\` | ${a.ownership} | ${a.recorded ? "yes" : "no"} | ${md(a.since)} | ${md(a.verify)} |`,
        );
      out.push("");
    }
    if (b.connections.length > 0) {
      out.push("| Connection | Access policy | Principal | State | Verify |", "|---|---|---|---|---|");
      for (const c of b.connections)
        out.push(
          `| \`${md(c.connectionId)}\` | ${md(c.policy)} | \`${md(c.principalId)}\` | ${c.state} | ${md(c.verify)} |`,
        );
      out.push("");
    }
    for (const j of b.jwtPolicies) {
      out.push(
        `- ApimJwtPolicy ${j.namespace}/${j.name} **${j.relation}** it at ${j.target} (audiences: ${j.audiences.join(", ") || "-"}; roles: ${j.roles.join(", ") || "-"})`,
      );
      if (j.access)
        out.push(
          `  - AccessVerified=${j.access.verified}${j.access.reason ? ` (${md(j.access.reason)})` : ""}${j.access.evaluated !== undefined ? `: ${j.access.allowed ?? 0} allowed, ${j.access.blocked ?? 0} blocked, ${j.access.unknown ?? 0} unknown of ${j.access.evaluated} evaluated` : ""}`,
          ...j.access.verdicts
            .filter((v) => v.verdict !== "Allowed")
            .map((v) => `    - ${md(v.operation)}: ${v.verdict}${v.message ? ` — ${md(v.message)}` : ""}`),
        );
    }
    out.push("");
  }
  if (e.bindings.length === 0) out.push("No LogicAppIdentityBinding found.");
  return out.join("\n") + "\n";
}

export function renderJson(e: Evidence): string {
  return (
    JSON.stringify({ $schema: "https://identity.logicapp.dev/schemas/evidence.schema.json", ...e }, null, 2) +
    "\n"
  );
}
