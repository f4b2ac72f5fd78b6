export {
  createThingSpaceClient,
  type CredentialCheck,
  type ThingSpaceCall,
  type ThingSpaceClient,
  type ThingSpaceClientDeps,
} from './client.js';
export {
  ThingSpaceError,
  parseThingSpaceError,
  parseRetryAfter,
  stripServiceName,
  networkError,
  type ThingSpaceErrorInit,
  type ResponseHeaders,
} from './errors.js';
export { deviceNumberOf, globalProfilesOf, verizonLineOf, VERIZON_CARRIER } from './device-list.js';
export type * from './models.js';
