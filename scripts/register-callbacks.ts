/**
 * `npm run register-callbacks`: points the account's ThingSpace callbacks at the gateway
 * (`CALLBACK_PUBLIC_URL`/<token>/<service>/<account>). `npm start` does this itself; deployments run it once,
 * again after changing CALLBACK_PASSWORD or CALLBACK_PATH_TOKEN, and after upgrading from a release whose URLs
 * had no token.
 */
import { parseConfig, registerCallbacksSchema, thingspaceClientSettings } from '../config/index.js';
import { createThingSpaceClient } from '../thingspace/index.js';
import { registerCallbacks } from './lib/register-callbacks.js';

const config = parseConfig(registerCallbacksSchema, process.env);
const thingspace = createThingSpaceClient(thingspaceClientSettings(config));
const urls = await registerCallbacks(thingspace, {
  accountName: config.THINGSPACE_ACCOUNT_NAME,
  baseUrl: config.CALLBACK_PUBLIC_URL,
  pathToken: config.CALLBACK_PATH_TOKEN,
  username: config.CALLBACK_USERNAME,
  password: config.CALLBACK_PASSWORD,
});
// The URLs carry the path token, a secret: print where they point, not the token.
process.stdout.write(
  `Callbacks of ${config.THINGSPACE_ACCOUNT_NAME} registered under ${config.CALLBACK_PUBLIC_URL}/<token>/:\n` +
    `${urls.map((u) => `  ${u.replace(config.CALLBACK_PATH_TOKEN, '<token>')}`).join('\n')}\n`,
);
