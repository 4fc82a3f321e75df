export const GROUP = "identity.logicapp.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = "azureidentity";
/** Finalizer the reconcilers add before their first Azure write. */
export const FINALIZER = `${GROUP}/cleanup`;
