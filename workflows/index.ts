/** Every workflow the worker registers. Only deterministic code may be imported from here. */
export { eidDeviceSwap } from './eid-device-swap.js';
export { changeDeviceIdentifier } from './change-device-identifier.js';
export { activateDeviceProfiles, changeProfileServicePlan } from './bulk.js';
export { profileShard } from './profile-shard.js';
