/**
 * Performs decide's actions in order through the ApimPort and stops at the first failure. A 412 on the shared
 * document (someone saved it between our read and our write) is returned as `conflict`, so the engine reads again
 * and decides again; every other failure stops the round and goes to the engine to classify.
 */
import { isAzureError } from "../../azure/errors.ts";
import type { ApimPolicyTarget, CallOptions } from "../../azure/ports.ts";
import type { Applied } from "../shared/rounds.ts";
import type { Action } from "./decide.ts";
import type { JwtPolicyPorts } from "./gather.ts";

export async function apply(
  actions: readonly Action[],
  ports: JwtPolicyPorts,
  target: ApimPolicyTarget,
  call: CallOptions = {},
): Promise<Applied<Action>> {
  const out: Applied<Action> = { results: [] };
  for (const action of actions) {
    try {
      switch (action.type) {
        case "putFragment":
          await ports.apim.putFragment(
            target.serviceId,
            action.fragmentId,
            action.xml,
            action.description,
            "*",
            call,
          );
          break;
        case "putPolicy":
          await ports.apim.putPolicy(target, action.xml, action.ifMatch, call);
          break;
        case "deletePolicy":
          await ports.apim.deletePolicy(target, action.ifMatch, call);
          break;
        case "deleteFragment":
          await ports.apim.deleteFragment(target.serviceId, action.fragmentId, "*", call);
          break;
      }
      out.results.push({ action, outcome: "done" });
    } catch (e) {
      if (isAzureError(e, "PreconditionFailed")) out.conflict = e;
      else out.stoppedBy = e instanceof Error ? e : new Error(String(e));
      return out;
    }
  }
  return out;
}
