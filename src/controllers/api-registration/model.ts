/** What the ApiRegistration kind observes and writes: shared by gather, decide (pure) and apply. */
import type {
  ApplicationAppRole,
  ApplicationChanges,
  ApplicationRegistration,
  NewApplication,
  ServicePrincipal,
} from "../../azure/ports.ts";
import type { Refusal } from "../binding/model.ts";

/** The claim record: which object manages an application (keyed by the application's object id). */
export interface RegistrationClaim {
  applicationId: string;
  appId: string;
  namespace: string;
  name: string;
  uid: string;
  /** The operator created the application for this object: only then may deletionPolicy Delete delete it. */
  created: boolean;
}

export interface RegistrationObservation {
  /** The first identifier URI this namespace may not declare (gather stops there: nothing is read). */
  tenancy?: Refusal;
  app?: ApplicationRegistration;
  /** Identifier URIs of the spec that another application holds (unique in the tenant). */
  urisHeldElsewhere?: { uri: string; appId: string }[];
  servicePrincipal?: ServicePrincipal;
  /** The claim on `app`, when it names another object (namespace/name). */
  claimedBy?: string;
  /** The claim on `app` names this object. */
  claim?: RegistrationClaim;
  /** Graph refused the ownership probe: the operator is not an owner of `app` (Application.ReadWrite.OwnedBy). */
  notOwner?: string;
  /** The application exists but Graph has not replicated it to where the service principal is created. */
  servicePrincipalPending?: boolean;
  /** Deleting with Delete: bindings (namespace/name) that still grant one of its roles. */
  grantedBy?: string[];
}

export type RegistrationAction =
  | { type: "createApplication"; app: NewApplication }
  | { type: "patchApplication"; id: string; changes: ApplicationChanges; why: "update" | "disableRoles" }
  | { type: "createServicePrincipal"; appId: string }
  | { type: "deleteApplication"; id: string; appId: string };

export type { ApplicationAppRole };
