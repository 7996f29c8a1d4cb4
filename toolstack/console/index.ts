// Public API of the console client: `txl console` and `txl create -c` attach through these.
export {
  openConsole, attachConsole, consoleTtyNode, CONSOLE_ESCAPE,
  type ConsoleSession, type ConsoleEnd, type ConsoleIo, type ConsoleStore, type ConsoleWatch, type ConsoleType, type OpenConsoleOptions,
} from './console.js';
export { ConsoleError, type ConsoleErrorCode } from './errors.js';
