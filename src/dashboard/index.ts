/** The dashboard shell's entry points (issue 23): the Fastify app and its read-only view of the results store. */
export { createDashboard } from './server.js';
export { openDashboardStore } from './store.js';
