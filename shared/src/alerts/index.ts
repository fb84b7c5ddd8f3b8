export * from './alert-event.js';
export * from './webhook-sender.js';
