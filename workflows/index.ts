/** Every workflow the worker registers. Only deterministic code may be imported from here. */
export { eidDeviceSwap } from './eid-device-swap.js';
