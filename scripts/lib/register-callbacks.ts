import { CALLBACK_SERVICES, callbackUrl } from '../../contracts/index.js';

export { callbackUrl };
import type { ThingSpaceClient } from '../../thingspace/index.js';

/**
 * Registers the gateway's URL for every callback service of the account; ThingSpace keeps one URL per
 * service per account, so running it again replaces the old registration (thingspace-api-notes.md),
 * including one made before the URL carried the token or the account.
 */
export async function registerCallbacks(
  thingspace: Pick<ThingSpaceClient, 'registerCallback'>,
  options: { accountName: string; baseUrl: string; pathToken: string; username: string; password: string },
): Promise<string[]> {
  const urls: string[] = [];
  for (const service of CALLBACK_SERVICES) {
    const url = callbackUrl(options.baseUrl, options.pathToken, service, options.accountName);
    await thingspace.registerCallback(options.accountName, {
      name: service,
      url,
      username: options.username,
      password: options.password,
    });
    urls.push(url);
  }
  return urls;
}
