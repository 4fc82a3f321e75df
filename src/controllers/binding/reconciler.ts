/**
 * LogicAppIdentityBinding reconciler: the binding kind (./kind.ts) on the pass engine (../shared/pass.ts), which
 * owns the finalizer, the rounds, status, Events, metrics and the work-queue outcome.
 */
import type { BindingStatus, LogicAppIdentityBinding } from "../../api/v1alpha1/index.ts";
import { BINDING_RESOURCE } from "../resources.ts";
import { PassReconciler, type PassDeps } from "../shared/pass.ts";
import { bindingKind, type BindingKindOptions } from "./kind.ts";
import type { BindingAction, BindingObservation } from "./model.ts";

export { BINDING_RESOURCE };

export type BindingReconcilerDeps = BindingKindOptions & PassDeps<LogicAppIdentityBinding>;

export class BindingReconciler extends PassReconciler<
  LogicAppIdentityBinding,
  BindingObservation,
  BindingAction,
  BindingStatus
> {
  constructor(deps: BindingReconcilerDeps) {
    super(bindingKind(deps), deps);
  }
}
