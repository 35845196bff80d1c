// Every view, loaded by app.js after the light node's worker has started.
export * as blocks from './blocks.js';
export * as contracts from './contracts.js';
export * as governance from './governance.js';
export * as network from './network.js';
export * as overview from './overview.js';
export * as search from './search.js';
export * as sql from './sql.js';
export * as state from './state.js';
export * as tx from './tx.js';
