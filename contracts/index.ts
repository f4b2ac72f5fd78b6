export * from './types.js';
export * from './names.js';
export * from './validation.js';
export * from './bulk-validation.js';
export * from './callbacks.js';
export * from './summaries.js';
