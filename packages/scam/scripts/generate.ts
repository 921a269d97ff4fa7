/**
 * Builds the labelled training corpus from the templates in `scripts/templates/`, the same every
 * run (seeded PRNG, no clock, no I/O but the optional output file).
 *
 * Each template is expanded several times with random fillers and light noise (lower case, lost
 * punctuation, a typo, an emoji, look-alike letters), then the corpus is split by template, not by
 * message: a fifth of each family's templates go only to the test split, so the test measures
 * phrasings the model has never seen rather than new fillers in known sentences.
 *
 * `npm run generate -w @kolokol/scam` writes `corpus/generated.jsonl` for inspection (git-ignored);
 * `npm run train` calls `generateCorpus()` directly.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENIGN_EN } from './templates/benign-en.ts';
import { BENIGN_RU } from './templates/benign-ru.ts';
import { MIXED } from './templates/mixed.ts';
import { SCAM_EN } from './templates/scam-en.ts';
import { SCAM_RU } from './templates/scam-ru.ts';
import { SLOTS } from './templates/slots.ts';
import type { Label, Lang, Template } from './templates/types.ts';

export type Example = {
  text: string;
  label: Label;
  family: string;
  lang: Lang;
  /** Index of the template in `TEMPLATES`. */
  template: number;
  split: 'train' | 'test';
};

export const TEMPLATES: readonly Template[] = [...SCAM_EN, ...SCAM_RU, ...BENIGN_EN, ...BENIGN_RU, ...MIXED];

export const CORPUS_SEED = 20240917;
const EXPANSIONS: Readonly<Record<Label, number>> = { scam: 16, benign: 20 };
const TEST_SHARE = 0.2;

/** sfc32: small, fast and good enough to pick fillers; seeded, so the corpus is reproducible. */
export function prng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** Index of the bracket closing the one at `open`, minding nesting. */
function closing(text: string, open: number, left: string, right: string): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === left) depth++;
    else if (text[i] === right && --depth === 0) return i;
  }
  throw new Error(`unclosed ${left} in template: ${text}`);
}

/** Splits `a|b[c|d]|e` at the top-level bars. */
function options(inner: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
    else if (ch === '|' && depth === 0) {
      out.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  out.push(inner.slice(start));
  return out;
}

export function expand(text: string, rng: () => number): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '[') {
      const end = closing(text, i, '[', ']');
      out += expand(pick(rng, options(text.slice(i + 1, end))), rng);
      i = end + 1;
    } else if (ch === '{') {
      const end = text.indexOf('}', i);
      const name = text.slice(i + 1, end);
      const fillers = SLOTS[name];
      if (end < 0 || fillers === undefined) throw new Error(`unknown slot {${name}} in template: ${text}`);
      out += expand(pick(rng, fillers), rng);
      i = end + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out
    .replace(/ {2,}/gu, ' ')
    .replace(/ ([,.!?])/gu, '$1')
    .trim();
}

const EMOJI = ['🙏', '😊', '🙂', '!!', '👍', '😉', '❗', '🔥', '...'];
/** Latin look-alikes of Cyrillic letters, the substitution scam kits use against filters. */
const LOOKALIKES: Readonly<Record<string, string>> = {
  а: 'a',
  е: 'e',
  о: 'o',
  р: 'p',
  с: 'c',
  х: 'x',
  у: 'y',
  к: 'k',
};

/** The noise of real typing, so the model does not learn that scams are always well punctuated. */
function roughen(text: string, rng: () => number): string {
  let out = text;
  if (rng() < 0.15) out = out.toLowerCase();
  // Only punctuation that ends a word: a URL keeps its dots and colon.
  if (rng() < 0.1) out = out.replace(/[.,!?;:](?=\s|$)/gu, '');
  if (rng() < 0.08) out = `${out} ${pick(rng, EMOJI)}`;
  if (rng() < 0.08) {
    const words = out.split(' ');
    const k = Math.floor(rng() * words.length);
    const w = words[k];
    if (w !== undefined && w.length >= 5) {
      const j = 1 + Math.floor(rng() * (w.length - 3));
      words[k] = w.slice(0, j) + w.charAt(j + 1) + w.charAt(j) + w.slice(j + 2);
      out = words.join(' ');
    }
  }
  if (rng() < 0.04) out = out.replace(/[аеорсхук]/gu, (c) => (rng() < 0.3 ? (LOOKALIKES[c] ?? c) : c));
  return out;
}

export function generateCorpus(seed = CORPUS_SEED): Example[] {
  const rng = prng(seed);
  // Which templates are held out: per (label, family, lang) group, shuffled with the seed.
  const testTemplates = new Set<number>();
  const groups = new Map<string, number[]>();
  TEMPLATES.forEach((t, i) => {
    const key = `${t.label}/${t.family}/${t.lang}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  for (const members of groups.values()) {
    const shuffled = [...members];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] ?? 0, shuffled[i] ?? 0];
    }
    const n = members.length >= 4 ? Math.max(1, Math.round(members.length * TEST_SHARE)) : 0;
    for (const i of shuffled.slice(0, n)) testTemplates.add(i);
  }
  const seen = new Set<string>();
  const out: Example[] = [];
  TEMPLATES.forEach((t, i) => {
    for (let k = 0; k < EXPANSIONS[t.label]; k++) {
      const text = roughen(expand(t.text, rng), rng);
      if (seen.has(text)) continue;
      seen.add(text);
      out.push({
        text,
        label: t.label,
        family: t.family,
        lang: t.lang,
        template: i,
        split: testTemplates.has(i) ? 'test' : 'train',
      });
    }
  });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2] ?? fileURLToPath(new URL('../corpus/generated.jsonl', import.meta.url));
  const corpus = generateCorpus();
  writeFileSync(target, `${corpus.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const count = (f: (e: Example) => boolean): number => corpus.filter(f).length;
  console.log(
    `${corpus.length} messages from ${TEMPLATES.length} templates -> ${target}\n` +
      `  scam ${count((e) => e.label === 'scam')}, benign ${count((e) => e.label === 'benign')}; ` +
      `test split ${count((e) => e.split === 'test')}`,
  );
}
