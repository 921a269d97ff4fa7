/**
 * What the model sees of a message: hashed word unigrams and bigrams, and character 3- and
 * 4-grams inside each word (they carry Russian inflections, "переведите/перевести/перевод", and
 * typos the word features miss). The hashing trick maps each feature to one of `2^FEATURE_BITS`
 * weights with a ±1 sign, so there is no vocabulary to ship and unseen words cost nothing.
 *
 * Features are present or absent (a repeated word counts once) and the vector has unit length, so
 * a long message does not score higher for being long.
 */
import type { Reading } from './reading.ts';

export const FEATURE_BITS = 16;
const MASK = (1 << FEATURE_BITS) - 1;

export type Features = { readonly index: Int32Array; readonly value: Float32Array };

// Seeds per kind of feature, so the word "код" and the 3-gram "код" land apart.
const SEED_WORD = 0x9e3779b1;
const SEED_BIGRAM = 0x85ebca77;
const SEED_CHAR = 0xc2b2ae3d;
const SEED_META = 0x27d4eb2f;

/** FNV-1a, one string at a time, so a bigram or n-gram is hashed without building its string. */
function fnv(h: number, s: string, from: number, to: number): number {
  let x = h;
  for (let i = from; i < to; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x;
}

function fnvUnit(h: number, unit: number): number {
  return Math.imul(h ^ unit, 0x01000193);
}

/** MurmurHash3's finaliser, so every bit of the FNV hash is usable for slot and sign. */
function finish(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

const BASIS = 0x811c9dc5;
const WORD_START = 0x02;
const WORD_END = 0x03;

/** Digits become 0 and long numbers share one shape: the amount matters less than that there is one. */
function shape(word: string): string {
  let digits = false;
  for (let i = 0; i < word.length && !digits; i++) {
    const c = word.charCodeAt(i);
    digits = c >= 0x30 && c <= 0x39;
  }
  if (!digits) return word;
  const zeroed = word.replace(/\d/gu, '0');
  return zeroed.length > 8 ? `${zeroed.slice(0, 8)}+` : zeroed;
}

// Scratch space reused by every call (JavaScript runs one call at a time): the value of each
// slot, and the call that last touched it, so nothing has to be cleared between messages.
const slotValue = new Float64Array(1 << FEATURE_BITS);
const slotStamp = new Int32Array(1 << FEATURE_BITS);
let stamp = 0;

export function featurize(reading: Reading): Features {
  stamp = (stamp + 1) | 0;
  if (stamp === 0) {
    slotStamp.fill(0);
    stamp = 1;
  }
  const touched: number[] = [];
  // A feature counts once however often it occurs. Presence is kept per slot and sign: two
  // features that collide with the same sign count once, with opposite signs they cancel out
  // (the hashing trick's usual trade, rare at 2^16 slots and a few hundred features).
  const add = (h: number): void => {
    const full = finish(h);
    const slot = full & MASK;
    const sign = full & 0x80000000 ? -1 : 1;
    if (slotStamp[slot] !== stamp) {
      slotStamp[slot] = stamp;
      slotValue[slot] = sign;
      touched.push(slot);
    } else if (slotValue[slot] !== sign) {
      slotValue[slot] = 0;
    }
  };
  let previous = '';
  for (const raw of reading.words) {
    const w = shape(raw);
    add(fnv(BASIS ^ SEED_WORD, w, 0, w.length));
    add(fnv(fnvUnit(fnv(BASIS ^ SEED_BIGRAM, previous, 0, previous.length), 0x20), w, 0, w.length));
    previous = w;
    // Character n-grams of the word between start and end marks: "^ко", "код", "од$".
    const padded = w.length + 2;
    for (let n = 3; n <= 4; n++) {
      for (let i = 0; i + n <= padded; i++) {
        let h = BASIS ^ SEED_CHAR;
        for (let k = i; k < i + n; k++) {
          h = fnvUnit(h, k === 0 ? WORD_START : k === padded - 1 ? WORD_END : w.charCodeAt(k - 1));
        }
        add(h);
      }
    }
  }
  if (reading.urls.length > 0) add(fnv(BASIS ^ SEED_META, 'url', 0, 3));
  const index = new Int32Array(touched.length);
  const value = new Float32Array(touched.length);
  let norm = 0;
  for (const slot of touched) norm += (slotValue[slot] ?? 0) ** 2;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  touched.forEach((slot, k) => {
    index[k] = slot;
    value[k] = (slotValue[slot] ?? 0) * scale;
  });
  return { index, value };
}
