import { apimRoutes } from "./arm/apim.ts";
import { authorizationRoutes } from "./arm/authorization.ts";
import { connectionRoutes } from "./arm/connections.ts";
import { logicRoutes } from "./arm/logic.ts";
import { msiRoutes } from "./arm/msi.ts";
import { siteWorkflowRoutes } from "./arm/site-workflows.ts";
import { webRoutes } from "./arm/web.ts";
import { appRoleAssignmentRoutes } from "./graph/app-role-assignments.ts";
import { applicationRoutes } from "./graph/applications.ts";
import { servicePrincipalRoutes } from "./graph/service-principals.ts";
import type { Route } from "./http.ts";

/** Every ARM and Graph route the emulator serves; the first pattern (and method) that matches wins. */
export const ROUTES: readonly Route[] = [
  ...authorizationRoutes,
  ...msiRoutes,
  ...logicRoutes,
  ...webRoutes,
  ...siteWorkflowRoutes,
  ...connectionRoutes,
  ...apimRoutes,
  ...servicePrincipalRoutes,
  ...appRoleAssignmentRoutes,
  ...applicationRoutes,
];

export function matchRoute(
  method: string,
  path: string,
): { route: Route; params: string[] } | { pathKnown: boolean } {
  let pathKnown = false;
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    if (route.method === method) return { route, params: m.slice(1) as string[] };
    pathKnown = true;
  }
  return { pathKnown };
}
