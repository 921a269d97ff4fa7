/**
 * One pass over a message that both the rules and the model share: the folded text, where its
 * URLs are, the text with the URLs blanked out (so "sberbank-help.ru" is not read as a claim to be
 * Sberbank: the link detector judges it) and the words of that text.
 */
import { findUrls } from './links.ts';
import { type Folded, fold, type Span } from './normalize.ts';

/** Messages are cut here: a scam shows its hand early, and the cost stays bounded. */
export const MAX_INPUT_LENGTH = 4000;

export type Reading = {
  /** The input, cut to `MAX_INPUT_LENGTH`; spans point into it. */
  readonly input: string;
  readonly folded: Folded;
  readonly urls: readonly Span[];
  /** `folded.text` with every URL replaced by spaces of the same length. */
  readonly plain: string;
  /** Words of `plain` (letters and digits), and the symbols `$ € £ ₽ % ×` one each. */
  readonly words: readonly string[];
};

const WORD = /[\p{L}\p{N}]+|[$€£₽%×]/gu;

export function read(text: string): Reading {
  const input = text.length > MAX_INPUT_LENGTH ? text.slice(0, MAX_INPUT_LENGTH) : text;
  const folded = fold(input);
  const urls = findUrls(folded.text);
  let plain = folded.text;
  if (urls.length > 0) {
    let out = '';
    let at = 0;
    for (const u of urls) {
      out += plain.slice(at, u.start) + ' '.repeat(u.end - u.start);
      at = u.end;
    }
    plain = out + plain.slice(at);
  }
  const words = plain.match(WORD) ?? [];
  return { input, folded, urls, plain, words };
}
