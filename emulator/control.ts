/**
 * The `/_emulator/` control surface (JSON, no auth): seeding, state reads, behind-the-back changes, faults, config,
 * request log and snapshots. Documented in docs/emulator.md; `client.ts` is its typed client.
 */
import { readFile, writeFile } from "node:fs/promises";
import { listAssignments, renderRoleAssignment } from "./arm/authorization.ts";
import { deleteRoleAssignment } from "./arm/role-assignment-index.ts";
import { createAppRoleAssignment, renderAppRoleAssignment } from "./graph/app-role-assignments.ts";
import { liveApplications, softDeleteApplication } from "./graph/applications.ts";
import { renderServicePrincipal } from "./graph/service-principals.ts";
import { HttpError, type Ctx, type Reply } from "./http.ts";
import { key } from "./ids.ts";
import type { FaultSpec } from "./faults.ts";
import type { EmulatorConfig, Runtime } from "./runtime.ts";
import * as seed from "./seed.ts";
import * as wf from "./seed-workflows.ts";
import { emptyState, parseSnapshot } from "./state.ts";
import type { TlsMaterial } from "./tls.ts";

type Handler = (rt: Runtime, body: never, q: URLSearchParams, ctx: Ctx) => unknown;

const fail = (status: number, message: string): never => {
  throw new HttpError({
    status,
    body: { error: { code: status === 404 ? "NotFound" : "BadRequest", message } },
  });
};

const q1 = (q: URLSearchParams, name: string): string =>
  q.get(name) ?? fail(400, `Query parameter '${name}' is required.`);

const target = (q: URLSearchParams): seed.PolicyTarget => ({
  serviceId: q1(q, "serviceId"),
  ...(q.get("productId") ? { productId: q.get("productId")! } : {}),
  ...(q.get("apiId") ? { apiId: q.get("apiId")! } : {}),
  ...(q.get("operationId") ? { operationId: q.get("operationId")! } : {}),
});

const ROUTES: Record<string, Handler> = {
  "GET /health": () => ({ ok: true }),
  "GET /config": (rt) => rt.config,
  "PATCH /config": (rt, b: Partial<EmulatorConfig>) => {
    rt.config = {
      ...rt.config,
      ...b,
      throttling: { ...rt.config.throttling, ...b.throttling },
      graphCaller: { ...rt.config.graphCaller, ...b.graphCaller },
    };
    if (b.throttling) rt.throttle.reset();
    return rt.config;
  },
  "POST /reset": (rt) => {
    rt.state = emptyState(rt.state.tenantId);
    rt.faults.clear();
    rt.log.reset();
    rt.throttle.reset();
    return { ok: true };
  },

  "POST /seed/tenant": (rt, b: { tenantId: string }) => {
    rt.state.tenantId = b.tenantId;
    return { tenantId: b.tenantId };
  },
  "POST /seed/subscriptions": (rt, b: seed.SeedSubscription) => seed.seedSubscription(rt, b),
  "POST /seed/resource-groups": (rt, b: seed.SeedResourceGroup) => seed.seedResourceGroup(rt, b),
  "POST /seed/logic-apps": (rt, b: seed.SeedLogicApp) => seed.seedLogicApp(rt, b),
  "POST /seed/user-assigned-identities": (rt, b: seed.SeedUserAssignedIdentity) =>
    seed.seedUserAssignedIdentity(rt, b),
  "POST /seed/system-identities": (rt, b: seed.SeedSystemIdentity) => seed.seedSystemIdentity(rt, b),
  "POST /seed/service-principals": (rt, b: seed.SeedServicePrincipal) => seed.seedServicePrincipal(rt, b),
  "POST /seed/applications": (rt, b: seed.SeedApplication) => seed.seedApplication(rt, b),
  "POST /seed/users": (rt, b: seed.SeedUser) => seed.seedUser(rt, b),
  "POST /seed/role-definitions": (rt, b: seed.SeedRoleDefinition) => seed.seedRoleDefinition(rt, b),
  "POST /seed/role-assignments": (rt, b: seed.SeedRoleAssignment) => seed.seedRoleAssignment(rt, b),
  "POST /seed/app-role-assignments": (rt, b: seed.SeedAppRoleAssignment, _q, ctx) => {
    const sp =
      rt.state.servicePrincipals[b.resourceId.toLowerCase()] ??
      fail(404, `No service principal '${b.resourceId}'.`);
    return renderAppRoleAssignment(createAppRoleAssignment({ ...ctx, rt }, sp, { ...b }));
  },
  "POST /seed/apim-services": (rt, b: seed.SeedApimService) => seed.seedApimService(rt, b),
  "POST /seed/apim-apis": (rt, b: seed.SeedApimApi) => seed.seedApimApi(rt, b),
  "POST /seed/apim-products": (rt, b: seed.SeedApimProduct) => seed.seedApimProduct(rt, b),
  "POST /seed/apim-operations": (rt, b: seed.SeedApimOperation) => seed.seedApimOperation(rt, b),
  "POST /seed/apim-product-apis": (rt, b: seed.SeedApimProductApi) => seed.seedApimProductApi(rt, b),
  "POST /seed/policy-fragments": (rt, b: seed.SeedPolicyFragment) => seed.seedPolicyFragment(rt, b),
  "POST /seed/workflow-definitions": (rt, b: wf.SeedWorkflowDefinition) => wf.seedWorkflowDefinition(rt, b),
  "POST /seed/site-workflows": (rt, b: wf.SeedSiteWorkflow) => wf.seedSiteWorkflow(rt, b),
  "POST /seed/site-connections": (rt, b: wf.SeedSiteConnections) => wf.seedSiteConnections(rt, b),
  "POST /seed/connections": (rt, b: wf.SeedConnection) => wf.seedConnection(rt, b),
  "POST /seed/connection-access-policies": (rt, b: wf.SeedConnectionAccessPolicy) =>
    wf.seedConnectionAccessPolicy(rt, b),
  "GET /state/connection-access-policies": (rt, _b, q) =>
    wf.listConnectionAccessPolicies(rt, q1(q, "connectionId")),
  "POST /seed/scenario": (rt, b: seed.ScenarioOptions | undefined) => seed.seedScenario(rt, b ?? {}),

  "GET /state": (rt) => rt.state,
  "GET /state/logic-apps": (rt) =>
    [...Object.values(rt.state.workflows), ...Object.values(rt.state.sites)].map((r) =>
      seed.logicAppView(rt, r.id),
    ),
  "GET /state/logic-app": (rt, _b, q) => seed.logicAppView(rt, q1(q, "id")),
  "POST /logic-apps/identity": (rt, b: { id: string } & seed.SeedIdentity) =>
    seed.setLogicAppIdentity(rt, b.id, b),
  "POST /logic-apps/delete": (rt, b: { id: string }) => seed.deleteLogicApp(rt, b.id),
  "GET /state/service-principals": (rt) =>
    Object.values(rt.state.servicePrincipals).map(renderServicePrincipal),
  "GET /state/applications": (rt) =>
    Object.values(rt.state.applications).map((a) => seed.applicationView(rt, a)),
  /** Behind the operator's back, as a person in the portal would: soft delete, SP and its assignments go. */
  "POST /applications/delete": (rt, b: { id: string }) => {
    const a = liveApplications(rt).find((x) => x.id.toLowerCase() === b.id.toLowerCase());
    if (a) softDeleteApplication(rt, a);
    return { deleted: Boolean(a) };
  },
  "GET /state/role-assignments": (rt, _b, q) => {
    const scope = q.get("scope");
    const principalId = q.get("principalId");
    const all = scope ? listAssignments(rt, scope, null) : Object.values(rt.state.roleAssignments);
    return all
      .filter((a) => !principalId || key(a.principalId) === key(principalId))
      .map(renderRoleAssignment);
  },
  "POST /role-assignments/delete": (rt, b: { name: string }) => {
    const k = b.name.split("/").pop()!.toLowerCase();
    return { deleted: deleteRoleAssignment(rt, k) };
  },
  "GET /state/app-role-assignments": (rt, _b, q) =>
    Object.values(rt.state.appRoleAssignments)
      .filter((a) => !q.get("resourceId") || key(a.resourceId) === key(q.get("resourceId")!))
      .filter((a) => !q.get("principalId") || key(a.principalId) === key(q.get("principalId")!))
      .map(renderAppRoleAssignment),
  "POST /app-role-assignments/delete": (rt, b: { id: string }) => {
    const had = Boolean(rt.state.appRoleAssignments[b.id]);
    delete rt.state.appRoleAssignments[b.id];
    return { deleted: had };
  },
  "GET /state/policy": (rt, _b, q) =>
    seed.getPolicyRaw(rt, target(q)) ?? fail(404, "No policy at that scope."),
  "PUT /state/policy": (rt, b: seed.PutPolicyRaw) => seed.putPolicyRaw(rt, b),
  "POST /policies/delete": (rt, b: seed.PolicyTarget) => seed.deletePolicyRaw(rt, b),
  "GET /state/policy-fragments": (rt, _b, q) =>
    Object.values(seed.apimService(rt, q1(q, "serviceId")).fragments).map((f) => ({
      fragmentId: f.name,
      description: f.description,
      xml: f.raw,
      etag: f.etag,
    })),

  "GET /faults": (rt) => rt.faults.list(),
  "POST /faults": (rt, b: FaultSpec) => rt.faults.add(b),
  "DELETE /faults": (rt) => {
    rt.faults.clear();
    return { ok: true };
  },
  "GET /requests": (rt, _b, q) =>
    rt.log.list({ operation: q.get("operation") ?? undefined, since: Number(q.get("since") ?? 0) }),
  "GET /requests/summary": (rt) => rt.log.summary(),
  "DELETE /requests": (rt) => {
    rt.log.reset();
    return { ok: true };
  },
  "GET /snapshot": (rt) => rt.state,
  "PUT /snapshot": (rt, b: unknown) => {
    rt.state = parseSnapshot(JSON.stringify(b));
    return { ok: true };
  },
  "POST /snapshot/save": async (rt, b: { path: string }) => {
    await writeFile(b.path, JSON.stringify(rt.state, null, 2));
    return { path: b.path };
  },
  "POST /snapshot/load": async (rt, b: { path: string }) => {
    rt.state = parseSnapshot(await readFile(b.path, "utf8"));
    return { path: b.path };
  },
};

export async function handleControl(rt: Runtime, ctx: Ctx, tls: TlsMaterial): Promise<Reply> {
  const sub = ctx.path.replace(/^\/_emulator/, "") || "/";
  if (ctx.method === "GET" && sub === "/ca")
    return { status: 200, body: { caPath: tls.caPath, caPem: tls.caPem } };
  const faultId = /^\/faults\/([^/]+)$/.exec(sub)?.[1];
  if (faultId && ctx.method === "DELETE")
    return { status: rt.faults.remove(faultId) ? 200 : 404, body: { id: faultId } };
  const handler = ROUTES[`${ctx.method} ${sub}`];
  if (!handler) return fail(404, `Unknown control route '${ctx.method} ${ctx.path}'. See docs/emulator.md.`);
  const result = await handler(rt, ctx.body as never, ctx.query, ctx);
  return { status: 200, body: result ?? null };
}
