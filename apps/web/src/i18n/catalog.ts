/**
 * The catalogues and a typed translate function over them. Pure (no DOM, no i18next) so that the
 * service worker and Node tests use it too; the React side wraps it in i18next for language
 * detection and change notifications.
 */
import { type Catalog, en, type Key } from './en.ts';
import { ru } from './ru.ts';

export type { Catalog, Key };
export const catalogs = { en, ru } as const satisfies Record<string, Catalog>;
export type Language = keyof typeof catalogs;
export const languages: readonly Language[] = ['en', 'ru'];

/** Keys with plural forms: `${base}.one` … `${base}.other`. */
export type PluralBase = Key extends infer K ? (K extends `${infer B}.other` ? B : never) : never;

/** The first supported language in the browser's list, else English. */
export function pickLanguage(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const base = tag.toLowerCase().split('-')[0];
    const found = languages.find((l) => l === base);
    if (found !== undefined) return found;
  }
  return 'en';
}

export type Vars = Record<string, string | number>;

export function interpolate(template: string, vars?: Vars): string {
  if (vars === undefined) return template;
  return template.replace(/\{\{(\w+)\}\}/g, (m, name: string) => {
    const v = vars[name];
    return v === undefined ? m : String(v);
  });
}

export function translate(lang: Language, key: Key, vars?: Vars): string {
  return interpolate(catalogs[lang][key], vars);
}

export function translatePlural(lang: Language, base: PluralBase, count: number, vars?: Vars): string {
  const rule = new Intl.PluralRules(lang).select(count);
  const form = rule === 'one' || rule === 'few' || rule === 'many' ? rule : 'other';
  const key = `${base}.${form}` as Key;
  return interpolate(catalogs[lang][key], { count, ...vars });
}

/** `{{name}}` placeholders of a template, sorted (used by the catalogue test). */
export function placeholders(template: string): string[] {
  return [...template.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1] ?? '').sort();
}
