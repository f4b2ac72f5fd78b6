/**
 * `npm run register-callbacks`: points the account's ThingSpace callbacks at the gateway
 * (`CALLBACK_PUBLIC_URL`/<service>/<account>). `npm start` does this itself; deployments run it once, and
 * again after upgrading from a release whose URLs had no account (`CALLBACK_PUBLIC_URL`/<service>).
 */
import { z } from 'zod';
import { parseConfig, startSchema, thingspaceClientSettings } from '../config/index.js';
import { createThingSpaceClient } from '../thingspace/index.js';
import { registerCallbacks } from './lib/register-callbacks.js';

const config = parseConfig(
  startSchema.extend({ CALLBACK_PUBLIC_URL: z.string().url().describe('URL ThingSpace calls') }),
  process.env,
);
const thingspace = createThingSpaceClient(thingspaceClientSettings(config));
const urls = await registerCallbacks(thingspace, {
  accountName: config.THINGSPACE_ACCOUNT_NAME,
  baseUrl: config.CALLBACK_PUBLIC_URL,
  username: config.CALLBACK_USERNAME,
  password: config.CALLBACK_PASSWORD,
});
process.stdout.write(
  `Callbacks of ${config.THINGSPACE_ACCOUNT_NAME} registered:\n${urls.map((u) => `  ${u}`).join('\n')}\n`,
);
