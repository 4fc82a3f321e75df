import { armError, page, type Ctx, type Reply } from "../http.ts";
import { key } from "../ids.ts";
import type { ResourceGroupRecord } from "../state.ts";

/** Path segment classes used by the ARM route patterns. */
export const SEG = "([^/]+)";
export const SUB = `/subscriptions/${SEG}`;
export const RG = `${SUB}/resourceGroups/${SEG}`;

export const rgId = (sub: string, rg: string): string => `/subscriptions/${sub}/resourceGroups/${rg}`;

export function requireResourceGroup(ctx: Ctx, sub: string, rg: string): ResourceGroupRecord {
  const rec = ctx.rt.state.resourceGroups[key(rgId(sub, rg))];
  if (!rec) throw armError(404, "ResourceGroupNotFound", `Resource group '${rg}' could not be found.`);
  return rec;
}

export function subscriptionOf(path: string): string | undefined {
  return /^\/subscriptions\/([^/]+)/i.exec(path)?.[1];
}

export function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
}

export const asObject = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** ARM list by subscription or resource group over one kind of tracked resource (one page of up to 1000). */
export function listInScope<R extends { subscriptionId: string; resourceGroup: string }>(
  ctx: Ctx,
  records: Record<string, R>,
  render: (r: R) => unknown,
  sub: string,
  rg?: string,
): Reply {
  if (rg) requireResourceGroup(ctx, sub, rg);
  const items = Object.values(records)
    .filter(
      (r) =>
        r.subscriptionId.toLowerCase() === sub.toLowerCase() &&
        (!rg || r.resourceGroup.toLowerCase() === rg.toLowerCase()),
    )
    .map(render);
  return { status: 200, body: page(ctx, items, ctx.rt.config.armPageSize) };
}
