// Human sizes for images ("4G", "512MiB", "1.5 GB") parsed to bytes, and formatted back.
import { ImageError } from './errors.js';

const BINARY: Readonly<Record<string, number>> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/** Units accepted by parseSize, for messages. */
export const SIZE_UNITS = 'B, K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024) or kB, MB, GB, TB (powers of 1000)';

/**
 * Parses a size with an optional unit into bytes, rounded up to whole 512-byte sectors.
 * A bare number is bytes. `field` names what is being parsed in error messages.
 */
export function parseSize(text: string | number, field = 'size'): number {
  const raw = String(text).trim();
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw);
  if (!m) {
    throw new ImageError('TXL_IMG_SIZE', `${field}: '${raw}' is not a size; write a number with a unit such as 4G or 512M`, {
      details: { field, value: raw },
      hint: `units: ${SIZE_UNITS}`,
    });
  }
  const value = Number(m[1]);
  const unit = m[2]!;
  let multiplier: number;
  if (unit === '' || unit === 'B' || unit === 'b') multiplier = 1;
  else if (/^[kKmMgGtTpP]$/.test(unit) || /^[kKmMgGtTpP]iB$/.test(unit)) multiplier = 1024 ** BINARY[unit[0]!.toLowerCase()]!;
  else if (/^[kKmMgGtTpP]B$/.test(unit)) multiplier = 1000 ** BINARY[unit[0]!.toLowerCase()]!;
  else {
    throw new ImageError('TXL_IMG_SIZE', `${field}: unknown unit '${unit}' in '${raw}'`, { details: { field, value: raw }, hint: `units: ${SIZE_UNITS}` });
  }
  const bytes = Math.ceil((value * multiplier) / 512) * 512;
  if (!Number.isSafeInteger(bytes) || bytes > 2 ** 53 - 1) {
    throw new ImageError('TXL_IMG_SIZE', `${field}: '${raw}' is too large`, { details: { field, value: raw } });
  }
  return bytes;
}

/** Parses a size and checks it against a minimum (bytes), naming the minimum in the error. */
export function parseSizeAtLeast(text: string | number, minimum: number, field = 'size'): number {
  const bytes = parseSize(text, field);
  if (bytes < minimum) {
    throw new ImageError('TXL_IMG_SIZE', `${field}: ${formatSize(bytes)} is too small; at least ${formatSize(minimum)} is needed`, {
      details: { field, value: String(text), minimumBytes: minimum },
    });
  }
  return bytes;
}

/** Bytes as a short binary-unit string: 4294967296 -> "4 GiB", 1572864 -> "1.5 MiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${text} ${units[i]}`;
}
