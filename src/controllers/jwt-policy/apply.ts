/**
 * Performs decide's actions in order through the ApimPort and stops at the first failure. A 412 on the shared
 * document (someone saved it between our read and our write) is reported as `conflict` so the reconciler reads
 * again and decides again; every other failure stops the pass and is returned for the reconciler to classify.
 */
import { isAzureError } from "../../azure/errors.ts";
import type { ApimPolicyTarget } from "../../azure/ports.ts";
import type { Action } from "./decide.ts";
import type { JwtPolicyPorts } from "./gather.ts";

export interface JwtApplyResult {
  succeeded: Action[];
  /** The document changed under us (412): re-gather and retry the pass. */
  conflict: boolean;
  stoppedBy?: Error;
}

export async function apply(
  actions: readonly Action[],
  ports: JwtPolicyPorts,
  target: ApimPolicyTarget,
): Promise<JwtApplyResult> {
  const result: JwtApplyResult = { succeeded: [], conflict: false };
  for (const action of actions) {
    try {
      switch (action.kind) {
        case "putFragment":
          // "*" until the engine rework passes the etag read with the owner check (issue 11).
          await ports.apim.putFragment(
            target.serviceId,
            action.fragmentId,
            action.xml,
            action.description,
            "*",
          );
          break;
        case "putPolicy":
          await ports.apim.putPolicy(target, action.xml, action.ifMatch);
          break;
        case "deletePolicy":
          await ports.apim.deletePolicy(target, action.ifMatch);
          break;
        case "deleteFragment":
          await ports.apim.deleteFragment(target.serviceId, action.fragmentId, "*");
          break;
      }
      result.succeeded.push(action);
    } catch (e) {
      if (isAzureError(e, "PreconditionFailed")) {
        result.conflict = true;
        return result;
      }
      result.stoppedBy = e instanceof Error ? e : new Error(String(e));
      return result;
    }
  }
  return result;
}
