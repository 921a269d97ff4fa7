/**
 * Search within the loaded history of one chat, and filtering of the chat list. Matching folds
 * case, accents and the Russian ё/е pair, so "ежик" finds "Ёжик" and "cafe" finds "café".
 */

export function fold(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/ё/g, 'е');
}

export interface Searchable {
  id: string;
  text: string;
}

/** Ids of the messages whose text holds every word of the query, oldest first. */
export function searchMessages(messages: readonly Searchable[], query: string): string[] {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  return messages
    .filter((m) => {
      const t = fold(m.text);
      return words.every((w) => t.includes(w));
    })
    .map((m) => m.id);
}

/** Where the query occurs in `text`, as [start, end) ranges of the original string, for highlighting. */
export function matchRanges(text: string, query: string): [number, number][] {
  const q = fold(query.trim());
  if (q === '') return [];
  // NFD folding can change lengths, so compare character by character on the folded form of each.
  const folded = [...text].map((ch) => fold(ch));
  const out: [number, number][] = [];
  const chars = [...text];
  for (let i = 0; i < chars.length; i++) {
    let acc = '';
    let j = i;
    while (j < chars.length && acc.length < q.length) {
      acc += folded[j] ?? '';
      j++;
    }
    if (acc === q) {
      const start = chars.slice(0, i).join('').length;
      const end = chars.slice(0, j).join('').length;
      out.push([start, end]);
      i = j - 1;
    }
  }
  return out;
}

/** Whether a chat matches the sidebar filter by its title or any member's name. */
export function matchesChat(names: readonly string[], query: string): boolean {
  const q = fold(query.trim());
  if (q === '') return true;
  return names.some((n) => fold(n).includes(q));
}
