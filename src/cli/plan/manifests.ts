/**
 * Reading manifests for `plan`: files, directories (recursively, *.yaml / *.yml / *.json) and stdin (`-`, e.g.
 * `kustomize build | plan -f -`), each a multi-document YAML stream. Objects of kinds this operator does not own are
 * skipped (a Kustomize output holds Deployments too); a document that is not an object, or YAML that does not
 * parse, is an error naming the file and document.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { GROUP } from "../../api/v1alpha1/group.ts";
import type { KubeObject } from "../../api/v1alpha1/metadata.ts";

export interface Manifest {
  /** "file.yaml#2" (1-based document), or "stdin#1". */
  source: string;
  object: KubeObject<unknown, unknown>;
}

export interface LoadResult {
  manifests: Manifest[];
  /** Documents of other API groups, counted so the summary can say they were not planned. */
  skipped: number;
  /** Namespace documents: their labels feed the tenancy matcher. */
  namespaces: KubeObject<unknown, unknown>[];
  errors: string[];
}

const MANIFEST_EXT = new Set([".yaml", ".yml", ".json"]);

export function parseStream(text: string, origin: string, into: LoadResult): void {
  const docs = parseAllDocuments(text);
  docs.forEach((doc, i) => {
    const source = `${origin}#${i + 1}`;
    if (doc.errors.length > 0) {
      into.errors.push(
        `${source}: YAML does not parse: ${doc.errors[0]!.message.split("\n")[0]} — fix the file`,
      );
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    if (typeof value !== "object" || Array.isArray(value)) {
      into.errors.push(`${source}: not a Kubernetes object (expected a mapping with apiVersion and kind)`);
      return;
    }
    const o = value as Record<string, unknown>;
    if (o.kind === "List" && Array.isArray(o.items)) {
      parseStream(
        (o.items as unknown[]).map((x) => JSON.stringify(x)).join("\n---\n"),
        `${source}/items`,
        into,
      );
      return;
    }
    if (typeof o.apiVersion !== "string" || typeof o.kind !== "string") {
      into.errors.push(`${source}: apiVersion and kind are required`);
      return;
    }
    if (o.apiVersion === "v1" && o.kind === "Namespace") {
      into.namespaces.push(o as unknown as KubeObject<unknown, unknown>);
      return;
    }
    if (o.apiVersion.split("/")[0] !== GROUP) {
      into.skipped++;
      return;
    }
    const meta = o.metadata as Record<string, unknown> | undefined;
    if (!meta || typeof meta.name !== "string" || meta.name === "") {
      into.errors.push(`${source}: ${o.kind} needs metadata.name`);
      return;
    }
    into.manifests.push({ source, object: o as unknown as KubeObject<unknown, unknown> });
  });
}

function walk(path: string, out: string[]): void {
  const st = statSync(path);
  if (!st.isDirectory()) {
    out.push(path);
    return;
  }
  for (const entry of readdirSync(path).sort()) {
    if (entry.startsWith(".")) continue;
    const p = join(path, entry);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (MANIFEST_EXT.has(extname(entry).toLowerCase())) out.push(p);
  }
}

/** `paths` as given to -f; `stdin` reads standard input once for "-". */
export function loadManifests(paths: readonly string[], stdin: () => string): LoadResult {
  const result: LoadResult = { manifests: [], skipped: 0, namespaces: [], errors: [] };
  for (const p of paths) {
    if (p === "-") {
      parseStream(stdin(), "stdin", result);
      continue;
    }
    const files: string[] = [];
    try {
      walk(p, files);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      result.errors.push(
        code === "ENOENT"
          ? `${p}: no such file or directory — check the -f path (relative to ${process.cwd()})`
          : `${p}: cannot be read (${code ?? String(e)})`,
      );
      continue;
    }
    for (const f of files) parseStream(readFileSync(f, "utf8"), f, result);
  }
  return result;
}
