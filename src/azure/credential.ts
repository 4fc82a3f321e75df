/**
 * Which TokenCredential the operator uses. In a cluster: workload identity (a projected service-account token
 * federated with an Entra app or user-assigned identity; no secret anywhere). Against the emulator: a static token,
 * since the emulator accepts any bearer token and real credentials cannot reach Entra from a test machine.
 */
import {
  DefaultAzureCredential,
  WorkloadIdentityCredential,
  type AccessToken,
  type TokenCredential,
} from "@azure/identity";

export type CredentialKind = "workload-identity" | "default" | "static";

export const CREDENTIAL_KINDS: readonly CredentialKind[] = ["workload-identity", "default", "static"];

export function createCredential(kind: CredentialKind): TokenCredential {
  switch (kind) {
    case "workload-identity":
      // Reads AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE set by the AKS workload identity webhook.
      return new WorkloadIdentityCredential();
    case "default":
      return new DefaultAzureCredential();
    case "static":
      return {
        async getToken(): Promise<AccessToken> {
          return { token: "emulator-token", expiresOnTimestamp: Date.now() + 3_600_000 };
        },
      };
  }
}
