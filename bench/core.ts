/**
 * The one place the benchmarks import the binding reconciler's Kubernetes-free core from, so a rename in
 * src/controllers is fixed here only.
 */
export { converge } from "../src/controllers/binding/kind.ts";
export { decide } from "../src/controllers/binding/decide.ts";
export { gather } from "../src/controllers/binding/gather.ts";
export { recheckAfterMs } from "../src/controllers/shared/rounds.ts";
