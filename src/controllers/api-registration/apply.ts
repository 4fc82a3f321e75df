/**
 * ApiRegistration's writes through the ApplicationPort. The claim of a created application is written right after
 * the create, marked `created`: it is what later allows deletionPolicy Delete, and what stops another object that
 * names the same identifier URI from taking the application over.
 */
import { isAzureError } from "../../azure/errors.ts";
import type { CallOptions } from "../../azure/ports.ts";
import type { ActionResult, Applied } from "../shared/rounds.ts";
import { claimKey, type RegistrationPorts } from "./gather.ts";
import type { RegistrationAction } from "./model.ts";

export interface ApplyContext {
  call: CallOptions;
  signal: AbortSignal;
  self: { namespace: string; name: string; uid: string };
}

export async function apply(
  actions: readonly RegistrationAction[],
  ports: RegistrationPorts,
  ctx: ApplyContext,
): Promise<Applied<RegistrationAction> & { servicePrincipalPending: boolean }> {
  const results: ActionResult<RegistrationAction>[] = [];
  let servicePrincipalPending = false;
  try {
    for (const action of actions) {
      switch (action.type) {
        case "createApplication": {
          const app = await ports.applications.create(action.app, ctx.call);
          await ports.claims.put(
            claimKey(app.id),
            { applicationId: app.id, appId: app.appId, ...ctx.self, created: true },
            undefined,
            ctx.signal,
          );
          results.push({ action, outcome: "done", detail: app.appId });
          break;
        }
        case "patchApplication":
          await ports.applications.patch(action.id, action.changes, ctx.call);
          results.push({ action, outcome: "done" });
          break;
        case "createServicePrincipal":
          try {
            const sp = await ports.applications.createServicePrincipal(action.appId, ctx.call);
            results.push({ action, outcome: "done", detail: sp.id });
          } catch (e) {
            // Graph has not replicated the application yet: decide waits and polls (ADR 0017).
            if (!isAzureError(e, "PrincipalNotFound")) throw e;
            servicePrincipalPending = true;
            results.push({ action, outcome: "deferred" });
          }
          break;
        case "deleteApplication":
          await ports.applications.delete(action.id, ctx.call);
          results.push({ action, outcome: "done" });
          break;
      }
    }
  } catch (e) {
    return { results, stoppedBy: e instanceof Error ? e : new Error(String(e)), servicePrincipalPending };
  }
  return { results, servicePrincipalPending };
}
