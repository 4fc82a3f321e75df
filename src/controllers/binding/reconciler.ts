/**
 * LogicAppIdentityBinding reconciler: the binding kind (./kind.ts) on the pass engine (../shared/pass.ts), which
 * owns the finalizer, the rounds, status, Events, metrics and the work-queue outcome.
 */
import type { BindingStatus, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { BINDING_RESOURCE } from "../resources.ts";
import { PassReconciler, type PassDeps } from "../shared/pass.ts";
import { bindingKind, type BindingKindOptions } from "./kind.ts";
import type { BindingAction, BindingObservation } from "./model.ts";
import { BindingRecords, type BindingOwnershipDeps } from "./ownership.ts";

export { BINDING_RESOURCE };

export type BindingReconcilerDeps = Omit<BindingKindOptions, "records"> &
  Omit<PassDeps<LogicAppIdentityBinding>, "records"> & {
    /** Where the binding's ownership records and Logic App claims live (ADR 0015). */
    ownership: BindingOwnershipDeps;
  };

export class BindingReconciler extends PassReconciler<
  LogicAppIdentityBinding,
  BindingObservation,
  BindingAction,
  BindingStatus
> {
  constructor(deps: BindingReconcilerDeps) {
    // One object is both the kind's record reader and the engine's write-ahead seam, so intent lands in the
    // record this pass read.
    const records = new BindingRecords(deps.ownership);
    super(bindingKind({ ...deps, records }), { ...deps, records });
  }
}
