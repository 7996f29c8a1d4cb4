// Public API of the image tools: sparse images, recipes and templates, build plans and their executor, inspection.
export { ImageError, isImageError, type ImageErrorCode } from './errors.js';
export { parseSize, parseSizeAtLeast, formatSize, SIZE_UNITS } from './size.js';
export { SpawnRunner, type CommandRunner, type RunOptions, type RunResult } from './runner.js';
export { encodeMbr, parseMbr, type MbrPartition } from './mbr.js';
export { createImage, resizeImage, mke2fsArgv, filesystemOffset, filesystemExtent, e2fsTarget, FILESYSTEMS, MIN_IMAGE_BYTES, PARTITION_OFFSET, PARTITION_TABLES, type CreateImageSpec, type Filesystem, type FilesystemLocation, type PartitionTable } from './disk.js';
export { encodeGpt, parseGpt, singlePartitionGpt, GPT_TYPE_LINUX_FS, type Gpt, type GptPartition } from './gpt.js';
export { sha512Crypt, randomSalt, looksLikeCryptHash } from './crypt.js';
export { parseRecipeText, readRecipeFile, resolveRecipe, mergeRaw, RECIPE_SCHEMA, DISTRIBUTIONS, type Recipe, type RawRecipe, type LoadedRecipe } from './recipe.js';
export { loadRecipe, loadMergedRecipe, listTemplates, templateInfo, templatesDir, isRecipePath, type TemplateInfo } from './templates.js';
export { planBuild, describePlan, guestFiles, packagesOf, defaultCacheRoot, type BuildPlan, type PlanOptions } from './plan.js';
export { executeBuild, httpProbe, removeWorkDir, BUILD_STAGES, type BuildProgress, type BuildResult, type ExecuteOptions, type UrlProbe } from './build.js';
export { inspectImage, formatInspection, DebugfsReader, type ImageReport, type KernelCheck } from './inspect.js';
export { newRecipeText, migrateToDebian, recipeFromXlGuest, UBUNTU_TO_DEBIAN_SUITE, PACKAGE_MAP, type MigrationNote, type XlGuestFacts } from './migrate.js';
