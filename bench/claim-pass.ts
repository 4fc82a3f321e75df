/**
 * `npm run bench:claims`: the ownership step of a binding pass at 300 and 10,000 cached bindings, walking the
 * whole cache (before issue 12) and through the Logic App index (docs/benchmarks.md).
 */
import { claimPassCost } from "./cache-and-decide.ts";

const rows: string[] = ["| cached bindings | walk (µs/pass) | index (µs/pass) |", "| ---: | ---: | ---: |"];
for (const n of [300, 10_000]) {
  const passes = n > 1000 ? 1000 : 3000;
  // Warm-up at the same size, then the measured run.
  await claimPassCost(n, "walk", passes);
  const walk = await claimPassCost(n, "walk", passes);
  await claimPassCost(n, "index", passes);
  const index = await claimPassCost(n, "index", passes);
  rows.push(`| ${n.toLocaleString("en")} | ${walk.toFixed(1)} | ${index.toFixed(1)} |`);
}
console.log(rows.join("\n"));
