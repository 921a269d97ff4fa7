/**
 * Folds a message into the form the rules and the model read: lower case, no accents, no
 * invisible characters, single spaces, look-alike letters of a mixed-script word brought into
 * that word's script, and letters spaced out one by one ("к о д", "s.m.s") joined again.
 *
 * Scammers use exactly these tricks to slip past keyword filters ("сбербанк" typed with a Latin
 * "a", a zero-width space inside "код", "П Е Р Е В О Д"), and a reader does not see them, so the
 * classifier must not either. Every unit of the folded text remembers which units of the input it
 * came from, so a rule's match can be shown on the text the user actually sees.
 *
 * It runs on every message, so it works on UTF-16 code units with the common alphabets (ASCII,
 * Russian) on a fast path and calls `normalize()` and Unicode regexes only for the rest.
 */

export type Span = { start: number; end: number };

export type Folded = {
  readonly text: string;
  /** `originStart[i]` is where, in the input, the character that produced `text[i]` starts. */
  readonly originStart: readonly number[];
  /** ...and where it ends (exclusive; two units after the start for a surrogate pair). */
  readonly originEnd: readonly number[];
};

/** Latin letters that pass for Cyrillic ones once lower-cased. */
const LATIN_TO_CYRILLIC: Readonly<Record<string, string>> = {
  a: 'а',
  b: 'в',
  c: 'с',
  e: 'е',
  h: 'н',
  k: 'к',
  m: 'м',
  n: 'п',
  o: 'о',
  p: 'р',
  r: 'г',
  t: 'т',
  u: 'и',
  x: 'х',
  y: 'у',
};

/** Cyrillic letters that pass for Latin ones (with the Ukrainian/Serbian/Abkhaz letters used only as disguises). */
const CYRILLIC_TO_LATIN: Readonly<Record<string, string>> = {
  а: 'a',
  в: 'b',
  с: 'c',
  е: 'e',
  н: 'h',
  к: 'k',
  м: 'm',
  п: 'n',
  о: 'o',
  р: 'p',
  г: 'r',
  т: 't',
  и: 'u',
  х: 'x',
  у: 'y',
  і: 'i',
  ј: 'j',
  ѕ: 's',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  һ: 'h',
  ӏ: 'l',
};

const MARK = /\p{M}/gu;
const INVISIBLE = /^[\p{Cf}\p{M}\p{Cc}\u115f\u1160\u3164\uffa0]$/u;
const SPACE = /^\s$/u;
const LINE_BREAK = /^[\n\r\v\f\u0085\u2028\u2029]$/u;
const LETTER = /^\p{L}$/u;
const CYRILLIC = /^\p{Script=Cyrillic}$/u;
const LATIN = /^\p{Script=Latin}$/u;
const SEPARATORS = new Set([0x20, 0x2e, 0x2d, 0x5f, 0x2a, 0xb7, 0x2022]);

const KIND_OTHER = 0;
const KIND_LATIN = 1;
const KIND_CYRILLIC = 2;
const KIND_LETTER = 3;

/** Which script a folded code unit's letter is in, if it is a letter. */
function kindOf(u: number): number {
  if (u < 0x80) return u >= 0x61 && u <= 0x7a ? KIND_LATIN : KIND_OTHER;
  if (u >= 0x430 && u <= 0x44f) return KIND_CYRILLIC;
  if (u >= 0xd800 && u <= 0xdfff) return KIND_OTHER;
  const c = String.fromCharCode(u);
  if (!LETTER.test(c)) return KIND_OTHER;
  if (CYRILLIC.test(c)) return KIND_CYRILLIC;
  if (LATIN.test(c)) return KIND_LATIN;
  return KIND_LETTER;
}

/**
 * Lower case without accents for one code point ('' for nothing). й stays whole (NFKD would make
 * it и) and ё becomes е, as Russians type them interchangeably.
 */
function foldSlow(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if (LINE_BREAK.test(ch)) return '\n';
  if (SPACE.test(ch)) return ' ';
  if (INVISIBLE.test(ch)) return '';
  if (cp === 0x401 || cp === 0x451) return 'е';
  // Typographic apostrophes and dashes, so "don’t" and "т‑банк" read as typed on a keyboard.
  if (cp === 0x2018 || cp === 0x2019 || cp === 0x02bc || cp === 0x2032) return "'";
  if (cp >= 0x2010 && cp <= 0x2015) return '-';
  const lower = ch.toLowerCase();
  if (lower === 'й') return lower;
  return lower.normalize('NFKD').replace(MARK, '');
}

export function fold(input: string): Folded {
  const codes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let i = 0;
  while (i < input.length) {
    const start = i;
    const unit = input.charCodeAt(i);
    let cp = unit;
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < input.length) {
      const low = input.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
    }
    i += cp > 0xffff ? 2 : 1;
    let out: number | string;
    if (cp >= 0x41 && cp <= 0x5a) out = cp + 32;
    else if (cp > 0x20 && cp < 0x7f) out = cp;
    else if (cp >= 0x430 && cp <= 0x44f && cp !== 0x439) out = cp;
    else if (cp >= 0x410 && cp <= 0x42f && cp !== 0x419) out = cp + 32;
    // A lone surrogate is not text; a space keeps the words around it apart.
    else if (cp >= 0xd800 && cp <= 0xdfff) out = 0x20;
    else if (cp === 0x306 && codes[codes.length - 1] === 0x438) {
      // A decomposed й (и + combining breve) is the one mark that changes the letter.
      codes[codes.length - 1] = 0x439;
      continue;
    } else out = foldSlow(cp);
    if (typeof out === 'number') push(codes, starts, ends, out, start, i);
    else for (let k = 0; k < out.length; k++) push(codes, starts, ends, out.charCodeAt(k), start, i);
  }
  unifyScripts(codes);
  return joinSpacedOut(codes, starts, ends);
}

/** Appends one unit; a run of white space becomes one space, or one line break if it has one. */
function push(
  codes: number[],
  starts: number[],
  ends: number[],
  u: number,
  start: number,
  end: number,
): void {
  if (u === 0x20 || u === 0x0a) {
    const last = codes[codes.length - 1];
    if (last === undefined) return;
    if (last === 0x20 || last === 0x0a) {
      if (u === 0x0a) codes[codes.length - 1] = 0x0a;
      return;
    }
  }
  codes.push(u);
  starts.push(start);
  ends.push(end);
}

/**
 * In a word that mixes Cyrillic and Latin letters, rewrite the look-alikes of the minority script.
 * Which script a word "is" comes from its letters that have no look-alike (д, ж, я; d, f, s), then
 * from all its letters, then from the message as a whole. A zero between two letters of a word is
 * taken for the letter o. Single-script words are left alone: "cmc" may be a real Latin word.
 */
function unifyScripts(codes: number[]): void {
  const kinds = codes.map(kindOf);
  let cyrillicInText = 0;
  let latinInText = 0;
  for (const k of kinds) {
    if (k === KIND_CYRILLIC) cyrillicInText++;
    else if (k === KIND_LATIN) latinInText++;
  }
  if (cyrillicInText === 0 || latinInText === 0) {
    if (!codes.includes(0x30)) return;
  }
  let i = 0;
  while (i < codes.length) {
    if (kinds[i] === KIND_OTHER && codes[i] !== 0x30) {
      i++;
      continue;
    }
    let j = i;
    let cyrillic = 0;
    let latin = 0;
    let zero = false;
    while (j < codes.length && (kinds[j] !== KIND_OTHER || codes[j] === 0x30)) {
      if (kinds[j] === KIND_CYRILLIC) cyrillic++;
      else if (kinds[j] === KIND_LATIN) latin++;
      else if (codes[j] === 0x30) zero = true;
      j++;
    }
    if ((cyrillic > 0 && latin > 0) || (zero && cyrillic + latin > 0)) {
      unifyWord(codes, kinds, i, j, cyrillicInText >= latinInText);
    }
    i = j;
  }
}

function unifyWord(
  codes: number[],
  kinds: number[],
  from: number,
  to: number,
  textIsCyrillic: boolean,
): void {
  let cyrillic = 0;
  let latin = 0;
  let cyrillicOnly = 0;
  let latinOnly = 0;
  for (let k = from; k < to; k++) {
    const c = String.fromCharCode(codes[k] ?? 0);
    if (kinds[k] === KIND_CYRILLIC) {
      cyrillic++;
      if (CYRILLIC_TO_LATIN[c] === undefined) cyrillicOnly++;
    } else if (kinds[k] === KIND_LATIN) {
      latin++;
      if (LATIN_TO_CYRILLIC[c] === undefined) latinOnly++;
    }
  }
  let toCyrillic: boolean;
  if (cyrillicOnly !== latinOnly) toCyrillic = cyrillicOnly > latinOnly;
  else if (cyrillic !== latin) toCyrillic = cyrillic > latin;
  else toCyrillic = textIsCyrillic;
  const table = toCyrillic ? LATIN_TO_CYRILLIC : CYRILLIC_TO_LATIN;
  for (let k = from; k < to; k++) {
    if (codes[k] === 0x30) {
      // Only between letters: "к0д" is a disguise, "100р" and "0рублей" are amounts.
      const before = kinds[k - 1] ?? KIND_OTHER;
      const after = kinds[k + 1] ?? KIND_OTHER;
      if (k > from && k + 1 < to && before !== KIND_OTHER && after !== KIND_OTHER) {
        codes[k] = toCyrillic ? 0x43e : 0x6f;
      }
      continue;
    }
    const swapped = table[String.fromCharCode(codes[k] ?? 0)];
    if (swapped !== undefined) codes[k] = swapped.charCodeAt(0);
  }
}

function isWordUnit(u: number | undefined): boolean {
  if (u === undefined) return false;
  if (u < 0x80) return (u >= 0x61 && u <= 0x7a) || (u >= 0x30 && u <= 0x39);
  return kindOf(u) !== KIND_OTHER || /^\p{N}$/u.test(String.fromCharCode(u));
}

function isLetterUnit(u: number | undefined): boolean {
  return u !== undefined && kindOf(u) !== KIND_OTHER;
}

/**
 * Joins runs of at least three single letters with one separator between each ("к о д", "s.m.s",
 * "п-е-р-е-в-о-д"): no word is written like that, a disguise is.
 */
function joinSpacedOut(codes: number[], starts: number[], ends: number[]): Folded {
  const drop = new Set<number>();
  let i = 0;
  while (i < codes.length) {
    if (!isLetterUnit(codes[i]) || isWordUnit(codes[i - 1]) || isWordUnit(codes[i + 1])) {
      i++;
      continue;
    }
    // codes[i] is a letter standing alone; extend while separator + lone letter follow.
    let j = i;
    let letters = 1;
    while (
      SEPARATORS.has(codes[j + 1] ?? -1) &&
      isLetterUnit(codes[j + 2]) &&
      !isWordUnit(codes[j + 3]) &&
      codes[j + 1] === codes[i + 1]
    ) {
      j += 2;
      letters++;
    }
    if (letters >= 3) for (let k = i + 1; k < j; k += 2) drop.add(k);
    i = j + 1;
  }
  const keptCodes = drop.size === 0 ? codes : codes.filter((_, k) => !drop.has(k));
  const keptStarts = drop.size === 0 ? starts : starts.filter((_, k) => !drop.has(k));
  const keptEnds = drop.size === 0 ? ends : ends.filter((_, k) => !drop.has(k));
  let text = '';
  for (let k = 0; k < keptCodes.length; k += 4096) {
    text += String.fromCharCode(...keptCodes.slice(k, k + 4096));
  }
  return { text, originStart: keptStarts, originEnd: keptEnds };
}

/** The input range behind `folded.text.slice(from, to)`. */
export function originOf(folded: Folded, from: number, to: number): Span {
  if (to <= from) {
    const at = folded.originStart[from] ?? folded.originEnd[folded.originEnd.length - 1] ?? 0;
    return { start: at, end: at };
  }
  return { start: folded.originStart[from] ?? 0, end: folded.originEnd[to - 1] ?? 0 };
}
