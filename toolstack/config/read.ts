// Reads an xl.cfg file with clear errors for what is not one: missing, unreadable, a directory, huge, binary.
import { open } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import { parseXlCfg, type ParseXlCfgOptions, type XlCfg } from './xlcfg.js';

/** Larger files are refused before reading: real xl.cfg files are a few KiB. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

function readError(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? 'no such file'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
        : code === 'EISDIR' ? 'it is a directory, not a config file'
          : code === 'ENOTDIR' ? 'a part of the path is not a directory'
            : (error as Error).message;
  return new ConfigError('TXL_CFG_READ', `cannot read config file ${path}: ${reason}`, { details: { file: path, errno: code }, cause: error });
}

/** Reads and parses an xl.cfg file (with options.overrides appended as xl create does). Throws ConfigError (TXL_CFG_READ, TXL_CFG_TOO_LARGE, or a parse error). */
export async function readXlCfgFile(path: string, options: ParseXlCfgOptions = {}): Promise<XlCfg> {
  let bytes: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (!stat.isFile() && !stat.isFIFO() && !stat.isCharacterDevice()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      if (stat.size > MAX_CONFIG_BYTES) {
        throw new ConfigError('TXL_CFG_TOO_LARGE', `config file ${path} is ${(stat.size / 1048576).toFixed(1)} MiB: that is not an xl.cfg (files over ${MAX_CONFIG_BYTES / 1048576} MiB are refused)`, {
          details: { file: path, bytes: stat.size },
        });
      }
      // Read in chunks (pipes and /dev/stdin have no size) and stop one chunk past the limit.
      const chunks: Buffer[] = [];
      let length = 0;
      for (;;) {
        const chunk = Buffer.alloc(65536);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        chunks.push(chunk.subarray(0, bytesRead));
        length += bytesRead;
        if (length > MAX_CONFIG_BYTES) {
          throw new ConfigError('TXL_CFG_TOO_LARGE', `config file ${path} is over ${MAX_CONFIG_BYTES / 1048576} MiB: that is not an xl.cfg`, { details: { file: path } });
        }
      }
      bytes = Buffer.concat(chunks, length);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw readError(path, error);
  }
  try {
    return parseXlCfg(bytes, path, options);
  } catch (error) {
    if (error instanceof ConfigError && bytes.subarray(0, 8192).includes(0)) {
      throw new ConfigError(error.code, error.message, { details: error.details, hint: `${path} contains NUL bytes: it looks like a binary file, not an xl.cfg text file` });
    }
    throw error;
  }
}
