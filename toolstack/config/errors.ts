// Errors of the xl.cfg reader, parser and domain-config resolver (toolstack/config).
import { TxlError } from '../../common/errors.js';

/** Stable codes of ConfigError. */
export type ConfigErrorCode =
  /** The config file cannot be read: missing, unreadable, a directory. */
  | 'TXL_CFG_READ'
  /** The file is far larger than any xl.cfg (refused before reading it). */
  | 'TXL_CFG_TOO_LARGE'
  /** A byte sequence libxlutil's lexer rejects (bare capitals, `-`, a CR, an unterminated string...). */
  | 'TXL_CFG_LEXICAL'
  /** Tokens in an order libxlutil's grammar rejects (a bare word as value, a missing `=`...). */
  | 'TXL_CFG_SYNTAX'
  /** A setting has the wrong type or an unusable value (memory="abc", a list where a string belongs). */
  | 'TXL_CFG_VALUE'
  /** A mandatory setting is missing (name, kernel or bootloader). */
  | 'TXL_CFG_MISSING'
  /** Recognised but not supported by this build (type="hvm", type="pvh"). */
  | 'TXL_CFG_UNSUPPORTED'
  /** A disk specification xl-disk-configuration(5) rejects, or two disks with one vdev. */
  | 'TXL_CFG_DISK'
  /** A vif specification xl-network-configuration(5) rejects, or two vifs with one devid. */
  | 'TXL_CFG_VIF';

/** An error in a domain configuration: names the file:line or the field, and what is accepted. */
export class ConfigError extends TxlError<ConfigErrorCode> {}
