export type Label = 'scam' | 'benign';
export type Lang = 'en' | 'ru' | 'mixed';

/** A message pattern: `[a|b|c]` picks one (`[a|]` is optional), `{slot}` a filler from slots.ts. */
export type Template = {
  readonly label: Label;
  readonly family: string;
  readonly lang: Lang;
  readonly text: string;
};

/** Templates of one family in one language. */
export function family(label: Label, name: string, lang: Lang, texts: readonly string[]): Template[] {
  return texts.map((text) => ({ label, family: name, lang, text }));
}
