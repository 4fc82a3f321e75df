/**
 * Azure-side options of `run`: endpoints (to point the operator at the emulator), CA and credential. Parsed from
 * flags or LAIO_* environment variables, like the runtime options, with errors that name the option.
 */
import { readFileSync } from "node:fs";
import { CREDENTIAL_KINDS, type CredentialKind } from "../azure/credential.ts";

export interface AzureOptions {
  armEndpoint: string | undefined;
  graphEndpoint: string | undefined;
  caFile: string | undefined;
  credential: CredentialKind;
}

const FLAGS = {
  "arm-endpoint":
    "Azure Resource Manager base URL (default https://management.azure.com). Env LAIO_ARM_ENDPOINT.",
  "graph-endpoint":
    "Microsoft Graph base URL without /v1.0 (default https://graph.microsoft.com). Env LAIO_GRAPH_ENDPOINT.",
  "azure-ca-file":
    "PEM file trusted for Azure endpoints instead of the system CAs (the emulator's CA). Env LAIO_AZURE_CA_FILE.",
  "azure-credential": `How to authenticate: ${CREDENTIAL_KINDS.join(" | ")} (default workload-identity). Env LAIO_AZURE_CREDENTIAL.`,
} as const;

export function azureHelp(): string {
  return Object.entries(FLAGS)
    .map(([flag, help]) => `  --${flag.padEnd(22)} ${help}`)
    .join("\n");
}

/** Removes the Azure flags from argv and returns them with the remaining arguments. */
export function parseAzureOptions(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { options: AzureOptions; rest: string[]; problems: string[] } {
  const values: Record<string, string | undefined> = {
    "arm-endpoint": env.LAIO_ARM_ENDPOINT,
    "graph-endpoint": env.LAIO_GRAPH_ENDPOINT,
    "azure-ca-file": env.LAIO_AZURE_CA_FILE,
    "azure-credential": env.LAIO_AZURE_CREDENTIAL,
  };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (m && m[1]! in FLAGS) {
      values[m[1]!] = m[2] ?? argv[++i];
    } else rest.push(arg);
  }
  const problems: string[] = [];
  for (const k of ["arm-endpoint", "graph-endpoint"] as const) {
    const v = values[k];
    if (v !== undefined && !/^https:\/\/[^\s]+$/.test(v))
      problems.push(`--${k}: "${v}" must be an https:// URL`);
  }
  const ca = values["azure-ca-file"];
  if (ca !== undefined) {
    try {
      readFileSync(ca, "utf8");
    } catch {
      problems.push(`--azure-ca-file: cannot read "${ca}"`);
    }
  }
  const cred = values["azure-credential"] ?? "workload-identity";
  if (!(CREDENTIAL_KINDS as readonly string[]).includes(cred)) {
    problems.push(`--azure-credential: "${cred}" must be one of ${CREDENTIAL_KINDS.join(", ")}`);
  }
  return {
    options: {
      armEndpoint: values["arm-endpoint"],
      graphEndpoint: values["graph-endpoint"],
      caFile: ca,
      credential: cred as CredentialKind,
    },
    rest,
    problems,
  };
}
