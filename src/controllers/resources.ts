/** The operator's two kinds as REST resources, for the runtime (informers, status, finalizers) and the reconcilers. */
import {
  BINDING_KIND,
  BINDING_PLURAL,
  GROUP,
  JWT_POLICY_KIND,
  JWT_POLICY_PLURAL,
  VERSION,
} from "../api/v1alpha1/index.ts";
import type { ResourceType } from "../runtime/resource.ts";

export const BINDING_RESOURCE: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: BINDING_PLURAL,
  kind: BINDING_KIND,
  namespaced: true,
};

export const JWT_POLICY_RESOURCE: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: JWT_POLICY_PLURAL,
  kind: JWT_POLICY_KIND,
  namespaced: true,
};
