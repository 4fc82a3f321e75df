/**
 * The one place the benchmarks import the binding reconciler's Kubernetes-free core from, so a rename in
 * src/controllers is fixed on one line.
 */
export { converge } from "../src/controllers/binding/converge.ts";
