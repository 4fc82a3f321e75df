/**
 * Performs decide's actions in order through the ApimPort and the record store, and stops at the first failure. A
 * 412 (someone saved the document or the fragment between our read and our write, or created the fragment we saw
 * as absent) is returned as `conflict`, so the engine reads again and decides again; never a blind overwrite. A
 * migration delete APIM refuses (409: still included elsewhere; 412: changed since read) is deferred to a later
 * pass, since the new fragment already carries the rule. Every other failure goes to the engine to classify.
 */
import { isAzureError } from "../../azure/errors.ts";
import type { ApimPolicyTarget, CallOptions } from "../../azure/ports.ts";
import { recordKeyOf } from "../shared/ownership-store.ts";
import type { Applied } from "../shared/rounds.ts";
import type { Action } from "./decide.ts";
import { signalOf, type JwtPolicyPorts } from "./gather.ts";

export async function apply(
  actions: readonly Action[],
  ports: JwtPolicyPorts,
  target: ApimPolicyTarget,
  who: { namespace: string; name: string },
  call: CallOptions = {},
): Promise<Applied<Action>> {
  const out: Applied<Action> = { results: [] };
  const key = recordKeyOf(who);
  for (const action of actions) {
    try {
      switch (action.type) {
        case "putRecord":
          await ports.records.put(key, action.record, action.resourceVersion, signalOf(call));
          break;
        case "deleteRecord":
          await ports.records.delete(key, action.resourceVersion, signalOf(call));
          break;
        case "putFragment":
          await ports.apim.putFragment(
            target.serviceId,
            action.fragmentId,
            action.xml,
            action.description,
            action.ifMatch,
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
          await ports.apim.deleteFragment(target.serviceId, action.fragmentId, action.ifMatch, call);
          break;
      }
      out.results.push({ action, outcome: "done" });
    } catch (e) {
      if (
        action.type === "deleteFragment" &&
        action.migration &&
        (isAzureError(e, "Conflict") || isAzureError(e, "PreconditionFailed"))
      ) {
        out.results.push({ action, outcome: "deferred" });
        continue;
      }
      if (isAzureError(e, "PreconditionFailed")) out.conflict = e;
      else out.stoppedBy = e instanceof Error ? e : new Error(String(e));
      return out;
    }
  }
  return out;
}
