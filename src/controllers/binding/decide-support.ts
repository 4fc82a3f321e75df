/** Small helpers shared by the pure decide modules of the binding reconciler. */
import type { ManagedIdentityType } from "../../azure/ports.ts";

/** One facet's verdict (IdentityReady, RoleAssignmentsReady, AppRoleAssignmentsReady). */
export interface Facet {
  ok: boolean;
  reason: string;
  message: string;
}

export const eqi = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/** Role definition IDs may come with or without the subscription prefix; the GUID identifies the role. */
export const sameRoleDefinition = (a: string, b: string): boolean =>
  eqi(a.split("/").pop(), b.split("/").pop());

export const lastSegment = (id: string): string => id.split("/").pop() ?? id;

export function hasSystem(t: ManagedIdentityType): boolean {
  return t === "SystemAssigned" || t === "SystemAssigned, UserAssigned";
}
