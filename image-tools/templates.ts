// Templates: named recipes under <package>/templates/NAME/template.yaml with an optional overlay/
// tree; loading a recipe merges it over its template chain (template: may name another template).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nearest } from '../common/suggest.js';
import { ImageError } from './errors.js';
import { mergeRaw, readRecipeFile, resolveRecipe, type LoadedRecipe, type RawRecipe } from './recipe.js';

/** The folder holding templates/ (the package root; found from this file in the source and in dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'templates', 'files', 'customize.sh')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new ImageError('TXL_IMG_TEMPLATE', `cannot find txl's templates/ folder above ${fileURLToPath(import.meta.url)}`);
}

/** Where templates are read from: $TXL_TEMPLATES, else the package's templates/. */
export function templatesDir(): string {
  return process.env.TXL_TEMPLATES ?? join(packageRoot(), 'templates');
}

/** The shared guest files (templates/files). */
export function guestFilesDir(): string {
  return join(packageRoot(), 'templates', 'files');
}

/** One template as listed. */
export interface TemplateInfo {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  readonly overlay: string | undefined;
}

/** Every template (folders of templates/ with a template.yaml), sorted by name. */
export function listTemplates(dir = templatesDir()): TemplateInfo[] {
  return readdirSync(dir)
    .filter((n) => existsSync(join(dir, n, 'template.yaml')))
    .sort()
    .map((name) => templateInfo(name, dir));
}

/** A template by name; TXL_IMG_TEMPLATE with the nearest name when it does not exist. */
export function templateInfo(name: string, dir = templatesDir()): TemplateInfo {
  const file = join(dir, name, 'template.yaml');
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name) || !existsSync(file)) {
    const names = existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'template.yaml'))) : [];
    const guess = nearest(name, names);
    throw new ImageError('TXL_IMG_TEMPLATE', `no template named '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}; known: ${names.sort().join(', ')}`, {
      details: { name, dir },
      hint: 'txl template list',
    });
  }
  const raw = readRecipeFile(file);
  const overlay = join(dir, name, 'overlay');
  return {
    name,
    description: typeof raw.description === 'string' ? raw.description : '',
    file,
    overlay: existsSync(overlay) && statSync(overlay).isDirectory() ? overlay : undefined,
  };
}

/** Options of loadRecipe. */
export interface LoadRecipeOptions {
  /** Fixed salt for clear-text passwords (tests). */
  readonly salt?: string;
  readonly templatesDir?: string;
}

/** True when `ref` names a recipe file rather than a template (a path or a .yaml/.yml name). */
export function isRecipePath(ref: string): boolean {
  return ref.includes('/') || ['.yaml', '.yml'].includes(extname(ref));
}

/** A template or recipe with its template chain merged, before defaults and checks. */
export interface MergedRecipe {
  readonly raw: RawRecipe;
  readonly file: string;
  readonly overlays: readonly string[];
  readonly defaultName: string;
}

/** Reads a template (by name) or recipe file (by path) and merges its `template:` chain (at most 8 levels). */
export function loadMergedRecipe(ref: string, dir = templatesDir()): MergedRecipe {
  const layers: RawRecipe[] = [];
  const overlays: string[] = [];
  let file: string;
  let raw: RawRecipe;
  let defaultName: string;
  if (isRecipePath(ref)) {
    file = resolve(ref);
    if (!existsSync(file)) throw new ImageError('TXL_IMG_RECIPE', `recipe ${ref} does not exist`, { details: { file }, hint: 'give a template name (txl template list) or a recipe .yaml file' });
    raw = readRecipeFile(file);
    defaultName = basename(file, extname(file));
    // A recipe may bring its own overlay tree: NAME.overlay/ beside NAME.yaml.
    const overlay = join(dirname(file), `${defaultName}.overlay`);
    if (existsSync(overlay)) overlays.unshift(overlay);
  } else {
    const info = templateInfo(ref, dir);
    file = info.file;
    raw = readRecipeFile(file);
    defaultName = ref;
    if (info.overlay) overlays.unshift(info.overlay);
  }
  layers.unshift(raw);
  const seen = new Set<string>();
  let parent = raw.template as string | undefined;
  while (parent !== undefined) {
    if (seen.has(parent) || seen.size >= 8) throw new ImageError('TXL_IMG_RECIPE', `${file}: template chain loops or is too deep at '${parent}'`);
    seen.add(parent);
    const info = templateInfo(parent, dir);
    const base = readRecipeFile(info.file);
    layers.unshift(base);
    if (info.overlay) overlays.unshift(info.overlay);
    parent = base.template as string | undefined;
  }
  let merged: RawRecipe = {};
  for (const layer of layers) merged = mergeRaw(merged, layer);
  // The recipe's own template: stays (the chain is already merged); descriptions are not inherited.
  return { raw: { ...merged, template: raw.template }, file, overlays, defaultName };
}

/** Loads a template or recipe, merges its template chain and resolves it (defaults, checks, password hashing). */
export function loadRecipe(ref: string, opts: LoadRecipeOptions = {}): LoadedRecipe {
  const m = loadMergedRecipe(ref, opts.templatesDir);
  return resolveRecipe(m.raw, { file: m.file, overlays: m.overlays, defaultName: m.defaultName, ...(opts.salt !== undefined ? { salt: opts.salt } : {}) });
}
