/** `evidence [-n ns | -A] [--format markdown|csv|json] [--verify] [--records-namespace ns]` plus the Azure options. */
import { parseArgs } from "node:util";
import type { ApiRegistration, ApimJwtPolicy, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { createOwnershipStores, recordKeyOf } from "../../controllers/shared/ownership-store.ts";
import {
  API_REGISTRATION_RESOURCE,
  BINDING_RESOURCE,
  JWT_POLICY_RESOURCE,
} from "../../controllers/resources.ts";
import type { KubeClient } from "../../runtime/client.ts";
import { azureHelp } from "../azure-options.ts";
import { kubeClientFrom, portsFrom, type CommandIO } from "../plan/command.ts";
import { readOnlyPorts } from "../plan/read-only.ts";
import { progress } from "../progress.ts";
import { collectEvidence, type EvidenceSource } from "./collect.ts";
import { renderCsv, renderJson, renderMarkdown } from "./render.ts";

export const EVIDENCE_USAGE = `Usage: logicapp-identity-operator evidence [-n <namespace> | -A] [options]

Every LogicAppIdentityBinding's identity and grants, from the cluster (status and the operator's records).
  -n, --namespace <ns>         one namespace (default: the kubeconfig context's namespace, else default)
  -A, --all-namespaces         every namespace
  --format markdown|csv|json   (default markdown; JSON follows docs/evidence.schema.json)
  --verify                     re-read Azure (read-only) and mark MISSING / UNDECLARED / CHANGED lines
  --records-namespace <ns>     where the operator keeps its records (default logicapp-identity-operator)
Exit codes: 0 exported (with --verify: and everything matched), 2 --verify found differences, 1 error.

Azure options (--verify only):
${azureHelp()}
`;

export function clusterEvidenceSource(client: KubeClient, recordsNamespace: string): EvidenceSource {
  const stores = createOwnershipStores(client, recordsNamespace);
  return {
    bindings: async (ns) => (await client.list<LogicAppIdentityBinding>(BINDING_RESOURCE, ns)).items,
    jwtPolicies: async (ns) => (await client.list<ApimJwtPolicy>(JWT_POLICY_RESOURCE, ns)).items,
    registrations: async () =>
      (await client.list<ApiRegistration>(API_REGISTRATION_RESOURCE, undefined)).items,
    record: async (namespace, name) =>
      (await stores.bindings.get(recordKeyOf({ namespace, name }), new AbortController().signal))?.data,
  };
}

export async function evidenceCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const azure = portsFrom(argv, io);
  let values;
  try {
    ({ values } = parseArgs({
      args: azure.rest,
      options: {
        namespace: { type: "string", short: "n" },
        "all-namespaces": { type: "boolean", short: "A" },
        format: { type: "string", default: "markdown" },
        verify: { type: "boolean" },
        "records-namespace": { type: "string", default: "logicapp-identity-operator" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    io.stderr(`evidence: ${e instanceof Error ? e.message : String(e)}\n\n${EVIDENCE_USAGE}`);
    return 1;
  }
  if (values.help) {
    io.stdout(EVIDENCE_USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!["markdown", "csv", "json"].includes(values.format))
    problems.push(`--format ${values.format}: use markdown, csv or json`);
  if (values.namespace && values["all-namespaces"]) problems.push("-n and -A exclude each other: pick one");
  if (values.verify) problems.push(...azure.problems);
  if (problems.length > 0) {
    io.stderr(`evidence: ${problems.join("\n  ")}\nRun 'evidence --help' for usage.\n`);
    return 1;
  }
  let client: KubeClient;
  let verifyPorts;
  try {
    verifyPorts = values.verify ? readOnlyPorts(azure.ports()) : undefined;
    client = kubeClientFrom(io);
  } catch (e) {
    io.stderr(`evidence: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const namespace = values["all-namespaces"]
    ? undefined
    : (values.namespace ??
      client.kubeConfig.getContextObject(client.kubeConfig.getCurrentContext())?.namespace ??
      "default");
  const bar = progress("evidence");
  try {
    const e = await collectEvidence(clusterEvidenceSource(client, values["records-namespace"]), {
      ...(namespace ? { namespace } : {}),
      now: (io.now ?? (() => new Date().toISOString()))(),
      ...(verifyPorts ? { verify: verifyPorts } : {}),
      progress: bar.update,
    });
    bar.end();
    io.stdout(
      values.format === "json" ? renderJson(e) : values.format === "csv" ? renderCsv(e) : renderMarkdown(e),
    );
    const differs = e.bindings.some(
      (b) =>
        (b.identityVerify && b.identityVerify !== "OK") ||
        [...b.rbac, ...b.appRoles].some((g) => g.verify && g.verify !== "OK"),
    );
    return differs ? 2 : 0;
  } catch (err) {
    bar.end();
    io.stderr(
      `evidence: ${err instanceof Error ? err.message : String(err)}\n` +
        "Check that the kubeconfig's user may list the operator's kinds and get ConfigMaps in the records namespace" +
        (values.verify
          ? ", and that the Azure identity has Reader and Graph Application.Read.All (docs/azure-permissions.md).\n"
          : ".\n"),
    );
    return 1;
  } finally {
    client.close();
  }
}
