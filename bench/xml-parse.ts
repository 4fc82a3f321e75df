/**
 * Wall time of parsing the adversarial policy documents (./xml-adversarial.ts) at the largest size APIM stores, and
 * of four times the size against one time (linear is 4×, quadratic 16×). The unit tests count the expression
 * scanner's work instead (deterministic); this measures what that work costs on this machine.
 *   npm run bench:xml
 */
import { MAX_POLICY_CHARS, parsePolicyXml } from "../src/controllers/jwt-policy/xml.ts";
import { ADVERSARIAL, adversarialDocument } from "./xml-adversarial.ts";

/** Best of `runs`: the least disturbed by other processes. */
function parseMs(doc: string, runs = 5): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    parsePolicyXml(doc);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

console.log("| shape | ms at 256 KB | ms per KB | 64 KB → 256 KB |");
console.log("| --- | ---: | ---: | ---: |");
for (const [shape, unit] of Object.entries(ADVERSARIAL)) {
  const full = adversarialDocument(unit, MAX_POLICY_CHARS - 64);
  const ms = parseMs(full);
  const small = parseMs(adversarialDocument(unit, 64 * 1024));
  const large = parseMs(adversarialDocument(unit, 256 * 1024 - 64));
  console.log(
    `| ${shape} | ${ms.toFixed(1)} | ${(ms / (full.length / 1024)).toFixed(3)} | ${(large / Math.max(small, 0.001)).toFixed(1)}× |`,
  );
}
