import { graphError, type Ctx } from "../http.ts";
import { isReplicated } from "../principals.ts";
import type { ServicePrincipalRecord } from "../state.ts";

export const GRAPH_METADATA = "https://graph.microsoft.com/v1.0/$metadata";

export const notFound = (id: string): never => {
  throw graphError(
    404,
    "Request_ResourceNotFound",
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
};

/** A service principal as Graph sees it: absent until it has replicated. */
export function visibleServicePrincipal(
  ctx: Ctx,
  ref: { id?: string; appId?: string },
): ServicePrincipalRecord {
  // Every Graph call on a service principal comes through here: no scan of all of them when the id is known.
  const sp = ref.id
    ? ctx.rt.state.servicePrincipals[ref.id.toLowerCase()]
    : Object.values(ctx.rt.state.servicePrincipals).find(
        (s) => s.appId.toLowerCase() === ref.appId?.toLowerCase(),
      );
  if (!sp || !isReplicated(ctx.rt, sp)) return notFound(ref.id ?? ref.appId ?? "");
  return sp;
}

/**
 * Graph collection paging: `$top` (default and cap from config), opaque `$skiptoken`, absolute `@odata.nextLink`.
 */
export function graphPage<T, R = T>(
  ctx: Ctx,
  items: T[],
  context: string,
  /** Applied to the page's items only (a list of thousands is otherwise rendered whole for each page). */
  render?: (item: T) => R,
): Record<string, unknown> {
  const { graphPageSize, graphMaxPageSize } = ctx.rt.config;
  const top = Math.min(graphMaxPageSize, Number(ctx.query.get("$top") ?? graphPageSize) || graphPageSize);
  const token = ctx.query.get("$skiptoken");
  const skip = token ? Number(Buffer.from(token, "base64url").toString()) || 0 : 0;
  const out: Record<string, unknown> = { "@odata.context": context };
  if (skip + top < items.length) {
    const next = new URL(ctx.baseUrl + ctx.path);
    for (const [k, v] of ctx.query) if (k !== "$skiptoken") next.searchParams.append(k, v);
    next.searchParams.set("$skiptoken", Buffer.from(String(skip + top)).toString("base64url"));
    out["@odata.nextLink"] = next.toString();
  }
  const page = items.slice(skip, skip + top);
  out.value = render ? page.map(render) : page;
  return out;
}

/** Applies `$select` the way Graph does: only the named properties (plus `id`). */
export function select(ctx: Ctx, o: Record<string, unknown>): Record<string, unknown> {
  const sel = ctx.query.get("$select");
  if (!sel) return o;
  const names = sel.split(",").map((s) => s.trim().toLowerCase());
  return Object.fromEntries(Object.entries(o).filter(([k]) => k === "id" || names.includes(k.toLowerCase())));
}
