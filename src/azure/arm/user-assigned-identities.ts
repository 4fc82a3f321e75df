/** UserAssignedIdentityPort over @azure/arm-msi. */
import type { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { CallOptions, UserAssignedIdentityObservation, UserAssignedIdentityPort } from "../ports.ts";
import { absentOn404, invalidId, invoke, parseResourceId } from "./transport.ts";
import type { PerSubscription } from "./transport.ts";

export class UserAssignedIdentityAdapter implements UserAssignedIdentityPort {
  readonly #msi: PerSubscription<ManagedServiceIdentityClient>;

  constructor(msi: PerSubscription<ManagedServiceIdentityClient>) {
    this.#msi = msi;
  }

  async observe(identityId: string, call: CallOptions = {}): Promise<UserAssignedIdentityObservation> {
    const p = parseResourceId(identityId);
    if (!p || p.type !== "microsoft.managedidentity/userassignedidentities" || p.children.length > 0) {
      throw invalidId("arm-msi", "userAssignedIdentities.get", identityId, "a user-assigned identity ID");
    }
    const got = await absentOn404(
      invoke("arm-msi", "userAssignedIdentities.get", () =>
        this.#msi
          .get(p.subscriptionId)
          .userAssignedIdentities.get(p.resourceGroup, p.name, { abortSignal: call.signal }),
      ),
    );
    if (!got) return { exists: false };
    return { exists: true, principalId: got.principalId, clientId: got.clientId, tenantId: got.tenantId };
  }
}
