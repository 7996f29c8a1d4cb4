// A tiny logic-less text template renderer for the guest files under templates/files/:
// {{key}} inserts a value, {{#key}}...{{/key}} keeps a block when the value is set (repeating it for
// each item of a list, with {{.}} as the item), {{^key}}...{{/key}} keeps it when the value is unset.
import { ImageError } from './errors.js';

/** Values a template may use: text, numbers, flags, lists of text. */
export type RenderValue = string | number | boolean | undefined | readonly string[];
export type RenderContext = Readonly<Record<string, RenderValue>>;

const SECTION = /\{\{([#^])\s*([\w.]+)\s*\}\}([\s\S]*?)\{\{\/\s*\2\s*\}\}/g;
/** A block tag alone on its line: the line (and its newline) disappears, the tag stays. */
const STANDALONE = /^[ \t]*(\{\{[#^/][^}]*\}\})[ \t]*\n/gm;

function truthy(v: RenderValue): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== false && v !== '';
}

/** Renders `template` with `context`; an unknown {{key}} is an error naming the template. */
export function render(template: string, context: RenderContext, source = 'template'): string {
  const sections = template.replace(STANDALONE, '$1').replace(SECTION, (_m, kind: string, key: string, body: string) => {
    const v = context[key];
    if (kind === '^') return truthy(v) ? '' : render(body, context, source);
    if (!truthy(v)) return '';
    if (Array.isArray(v)) return v.map((item) => render(body.replace(/\{\{\s*\.\s*\}\}/g, () => item), context, source)).join('');
    return render(body, context, source);
  });
  return sections.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_m, key: string) => {
    if (!(key in context)) throw new ImageError('TXL_IMG_TEMPLATE', `${source}: unknown placeholder {{${key}}}`, { details: { source, key } });
    const v = context[key];
    return Array.isArray(v) ? v.join(' ') : v === undefined || v === false ? '' : String(v);
  });
}
