// Errors of the image tools (sparse images, recipes, builds, inspection), with stable codes.
import { TxlError } from '../common/errors.js';

/** Stable codes of image-tools errors (scripts may match on them). */
export type ImageErrorCode =
  | 'TXL_IMG_SIZE' // a size that does not parse or is out of range
  | 'TXL_IMG_EXISTS' // the output exists and --force was not given
  | 'TXL_IMG_TOOL' // an external tool (mke2fs, mmdebstrap...) is missing or failed
  | 'TXL_IMG_FS' // filesystem or partition-table problem (unsupported, not found, shrinking)
  | 'TXL_IMG_RECIPE' // a recipe that does not parse or validate
  | 'TXL_IMG_TEMPLATE' // unknown template or broken template data
  | 'TXL_IMG_MIRROR' // the package mirror cannot be reached
  | 'TXL_IMG_TOO_SMALL' // the image size cannot hold the installed system
  | 'TXL_IMG_BUILD' // the build failed (details name the stage)
  | 'TXL_IMG_INTERRUPTED' // the build was cancelled (SIGINT/abort); nothing was left behind
  | 'TXL_IMG_INSPECT'; // the image cannot be read

/** An error of the image tools. */
export class ImageError extends TxlError<ImageErrorCode> {}

/** True for image-tools errors. */
export function isImageError(error: unknown): error is ImageError {
  return error instanceof ImageError;
}
