// The OpenAPI 3.1 document's frame (GET /api/v1/openapi.json): its title, version and the two ways
// to authenticate; the routes add their paths as they are registered.

import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'sendense-run hub API',
        version,
        description: 'The hub of sendense-run as a service: docs/api.md.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'an API token: sendense-run token add NAME --role ROLE',
          },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: 'sendense_session',
            description: 'a console session (POST /api/v1/login); state-changing requests also need X-CSRF-Token',
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
}
