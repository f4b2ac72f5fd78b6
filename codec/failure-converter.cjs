/**
 * The failure converter used with payload encryption (`dataConverterFor` in `index.ts`): it moves each
 * failure's message and stack trace into its encoded attributes, a payload that the encryption codec then
 * encrypts. Failure messages may quote what ThingSpace answered (its `errorMessage` can echo a request's
 * values, a customer's name among them), and stack traces start with the message; Temporal would store both
 * in clear. The history shows `Encoded failure` instead; type and retryability stay readable, and details
 * are payloads, which the codec encrypts anyway.
 *
 * The SDK loads this module by its path (`DataConverter.failureConverterPath`): with `require` in the
 * worker's and each client's own process, and into the workflow bundle. Hence CommonJS JavaScript: jest runs
 * the project's TypeScript as ES modules and refuses to `require` it. It imports nothing the workflow
 * sandbox cannot run.
 */
'use strict';
/* global require, exports */

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the SDK requires this module (see above)
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
