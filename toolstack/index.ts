// txl's public library API.
export { main } from './cli/main.js';
export { TxlError, isTxlError } from '../common/errors.js';
