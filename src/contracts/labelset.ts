/** Label sets for zero-shot classification: labels × prompt templates, OpenAI CLIP's recipe. */
import { EdgeClipError, quoteInput } from './errors.ts';

export const DEFAULT_TEMPLATES = ['a photo of a {c}.'];

export interface LabelSet {
  name: string;
  labels: string[];
  templates: string[];
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
export const LABELSET_NAME_RULE =
  'a label-set name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';

/** The label-set name rule (names become KV keys, which have a 512-byte limit): 400 naming the rule otherwise. */
export function checkLabelsetName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new EdgeClipError('INVALID_INPUT', `${LABELSET_NAME_RULE} (got ${quoteInput(name, 80)})`);
  return name;
}

/**
 * Accepts `{name, labels, templates?}` (OpenCLIP's `classnames` is taken for `labels`). Labels may repeat (ImageNet
 * has two "missile" and two "sunglasses" classes): results carry the class index.
 */
export function parseLabelSet(json: unknown, fallbackName?: string): LabelSet {
  const bad = (m: string) => new EdgeClipError('INVALID_INPUT', `label set: ${m}`);
  if (typeof json !== 'object' || json === null) throw bad('not a JSON object');
  const o = json as Record<string, unknown>;
  const name = o.name ?? fallbackName;
  if (typeof name !== 'string' || !NAME.test(name)) throw bad(`${LABELSET_NAME_RULE} (got ${quoteInput(name, 80)})`);
  const labels = o.labels ?? o.classnames;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string' && l.trim() !== '')) {
    throw bad('labels must be a non-empty array of non-empty strings');
  }
  const templates = o.templates ?? DEFAULT_TEMPLATES;
  if (
    !Array.isArray(templates) ||
    templates.length === 0 ||
    !templates.every((t) => typeof t === 'string' && t.includes('{c}'))
  ) {
    throw bad('templates must be a non-empty array of strings containing {c}');
  }
  return { name, labels: labels as string[], templates: templates as string[] };
}

export const promptFor = (template: string, label: string): string => template.replaceAll('{c}', label);

/**
 * The labels' prompts, label-major: prompt i·T+t is template t of label i. With `maxChars`, a prompt longer than that
 * (a template with many `{c}`, each a long label) is refused (413) before any is built: a text input may not be longer.
 */
export function expandPrompts(set: LabelSet, maxChars?: number): string[] {
  if (maxChars !== undefined)
    for (const t of set.templates) {
      const slots = t.split('{c}').length - 1;
      for (const l of set.labels)
        if (t.length + slots * (l.length - 3) > maxChars)
          throw new EdgeClipError(
            'PAYLOAD_TOO_LARGE',
            `the prompt of template ${quoteInput(t)} with label ${quoteInput(l)} would be ${t.length + slots * (l.length - 3)} characters; at most ${maxChars} (MAX_TEXT_CHARS)`,
          );
    }
  return set.labels.flatMap((l) => set.templates.map((t) => promptFor(t, l)));
}
