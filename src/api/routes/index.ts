// Every route of the API, in one table (docs/api.md): the server registers these, the OpenAPI
// document and docs/api.md are made from them, and the role tests walk them.

import type { RouteDef } from '../route.js';
import { adminRoutes } from './admin-routes.js';
import { aliasRoutes } from './alias-routes.js';
import { backupRoutes } from './backup-routes.js';
import { drillRoutes } from './drill-routes.js';
import { fileRoutes } from './file-routes.js';
import { hubRoutes } from './hub-routes.js';
import { planRoutes } from './plan-routes.js';
import { recoveryRoutes } from './recovery-routes.js';
import { repositoryRoutes } from './repository-routes.js';
import { restoreRoutes } from './restore-routes.js';

export const ROUTES: readonly RouteDef[] = [
  ...planRoutes,
  ...backupRoutes,
  ...drillRoutes,
  ...restoreRoutes,
  ...recoveryRoutes,
  ...repositoryRoutes,
  ...fileRoutes,
  ...hubRoutes,
  ...adminRoutes,
  ...aliasRoutes,
];
