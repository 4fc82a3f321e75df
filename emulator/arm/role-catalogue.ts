import type { RoleDefinitionRecord } from "../state.ts";

type Perm = RoleDefinitionRecord["permissions"][number];
const perm = (actions: string[], dataActions: string[] = [], notActions: string[] = []): Perm[] => [
  { actions, notActions, dataActions, notDataActions: [] },
];

function builtIn(
  name: string,
  roleName: string,
  description: string,
  permissions: Perm[],
  createdOn: string,
  updatedOn: string,
): RoleDefinitionRecord {
  return {
    name,
    roleName,
    type: "BuiltInRole",
    description,
    assignableScopes: ["/"],
    permissions,
    createdOn,
    updatedOn,
  };
}

/** Azure built-in roles with their real, globally fixed GUIDs (Learn "Azure built-in roles"). */
export const BUILT_IN_ROLES: readonly RoleDefinitionRecord[] = [
  builtIn(
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Owner",
    "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    perm(["*"]),
    "2015-02-02T21:55:09.8806423Z",
    "2021-11-11T20:13:45.8978856Z",
  ),
  builtIn(
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Contributor",
    "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
    perm(
      ["*"],
      [],
      [
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action",
        "Microsoft.Purview/consents/write",
        "Microsoft.Purview/consents/delete",
      ],
    ),
    "2015-02-02T21:55:09.8806423Z",
    "2023-07-10T15:43:28.6418047Z",
  ),
  builtIn(
    "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Reader",
    "View all resources, but does not allow you to make any changes.",
    perm(["*/read"]),
    "2015-02-02T21:55:09.8806423Z",
    "2021-11-11T20:13:47.8628684Z",
  ),
  builtIn(
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "User Access Administrator",
    "Lets you manage user access to Azure resources.",
    perm(["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"]),
    "2015-02-02T21:55:09.8806423Z",
    "2021-11-11T20:13:50.1416282Z",
  ),
  // Learn "Azure built-in roles" (Privileged): Role Based Access Control Administrator, f58310d9-…; its actions
  // as listed there (the ABAC condition that Azure attaches to assignments of it is not modelled).
  builtIn(
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Role Based Access Control Administrator",
    "Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.",
    perm([
      "Microsoft.Authorization/roleAssignments/write",
      "Microsoft.Authorization/roleAssignments/delete",
      "*/read",
      "Microsoft.Support/*",
    ]),
    "2022-09-07T02:29:29.6592395Z",
    "2024-04-23T15:00:00.0000000Z",
  ),
  builtIn(
    "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets User",
    "Read secret contents. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    perm(
      [],
      [
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
      ],
    ),
    "2020-04-22T19:03:34.6396498Z",
    "2021-11-11T20:14:34.1960472Z",
  ),
  builtIn(
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets Officer",
    "Perform any action on the secrets of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    perm(
      [
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
        "Microsoft.KeyVault/checkNameAvailability/read",
        "Microsoft.KeyVault/deletedVaults/read",
        "Microsoft.KeyVault/locations/*/read",
        "Microsoft.KeyVault/vaults/*/read",
        "Microsoft.KeyVault/operations/read",
      ],
      ["Microsoft.KeyVault/vaults/secrets/*"],
    ),
    "2020-04-22T19:03:34.6396498Z",
    "2021-11-11T20:14:33.9060327Z",
  ),
  builtIn(
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Reader",
    "Allows for read access to Azure Storage blob containers and data",
    perm(
      [
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
      ],
      ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
    ),
    "2017-12-21T00:01:24.7972312Z",
    "2021-11-11T20:13:55.6615975Z",
  ),
  builtIn(
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Contributor",
    "Allows for read, write and delete access to Azure Storage blob containers and data",
    perm(
      [
        "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
      ],
      [
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
      ],
    ),
    "2017-12-21T00:01:24.7972312Z",
    "2021-11-11T20:13:55.2815868Z",
  ),
  builtIn(
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Sender",
    "Allows for send access to Azure Service Bus resources.",
    perm(
      [
        "Microsoft.ServiceBus/*/queues/read",
        "Microsoft.ServiceBus/*/topics/read",
        "Microsoft.ServiceBus/*/topics/subscriptions/read",
      ],
      ["Microsoft.ServiceBus/*/send/action"],
    ),
    "2019-05-10T06:43:01.6343531Z",
    "2021-11-11T20:14:12.6343551Z",
  ),
  builtIn(
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Receiver",
    "Allows for receive access to Azure Service Bus resources.",
    perm(
      [
        "Microsoft.ServiceBus/*/queues/read",
        "Microsoft.ServiceBus/*/topics/read",
        "Microsoft.ServiceBus/*/topics/subscriptions/read",
      ],
      ["Microsoft.ServiceBus/*/receive/action"],
    ),
    "2019-05-10T06:43:01.6343531Z",
    "2021-11-11T20:14:12.2232855Z",
  ),
  builtIn(
    "87a39d53-fc1b-424a-814c-f7e04687dc9e",
    "Logic App Contributor",
    "Lets you manage logic app, but not access to them.",
    perm([
      "Microsoft.Authorization/*/read",
      "Microsoft.ClassicStorage/storageAccounts/listKeys/action",
      "Microsoft.ClassicStorage/storageAccounts/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Insights/diagnosticSettings/*",
      "Microsoft.Logic/*",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Web/connections/*",
      "Microsoft.Web/serverFarms/join/action",
      "Microsoft.Web/serverFarms/read",
      "Microsoft.Web/sites/functions/listSecrets/action",
    ]),
    "2016-04-28T12:13:50.7737575Z",
    "2021-11-11T20:13:24.6522098Z",
  ),
];
