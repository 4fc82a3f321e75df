/** The operator's two kinds as REST resources, for the runtime (informers, status, finalizers) and the reconcilers. */
import {
  API_REGISTRATION_KIND,
  API_REGISTRATION_PLURAL,
  BINDING_KIND,
  BINDING_PLURAL,
  GROUP,
  JWT_POLICY_KIND,
  JWT_POLICY_PLURAL,
  VERSION,
} from "../api/v1alpha1/index.ts";
import { ACCESS_POLICY_KIND, ACCESS_POLICY_PLURAL } from "../api/v1alpha1/access-policy.ts";
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

/** Cluster-scoped, written by cluster administrators; the reconcilers read it from a cache (tenancy). */
export const ACCESS_POLICY_RESOURCE: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: ACCESS_POLICY_PLURAL,
  kind: ACCESS_POLICY_KIND,
  namespaced: false,
};

/** Namespaces, for the labels a policy's selector matches. */
export const NAMESPACE_RESOURCE: ResourceType = {
  group: "",
  version: "v1",
  plural: "namespaces",
  kind: "Namespace",
  namespaced: false,
};

export const API_REGISTRATION_RESOURCE: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: API_REGISTRATION_PLURAL,
  kind: API_REGISTRATION_KIND,
  namespaced: true,
};
