import { CALLBACK_SERVICES } from '../../contracts/index.js';
import type { ThingSpaceClient } from '../../thingspace/index.js';

/**
 * The URL ThingSpace posts an account's callbacks of one service to: `<base>/<token>/<service>/<account>`.
 * The token is a second secret besides the credentials in the body (callback-gateway/app.ts); the callbacks
 * themselves name no account, so the path tells the gateway whose they are, and it correlates them only with
 * that account's sagas.
 */
export function callbackUrl(baseUrl: string, pathToken: string, service: string, accountName: string): string {
  return [baseUrl.replace(/\/$/, ''), pathToken, service, accountName]
    .map((p, i) => (i ? encodeURIComponent(p) : p))
    .join('/');
}

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
