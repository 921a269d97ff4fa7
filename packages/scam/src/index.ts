/**
 * On-device scam warnings for message requests and first messages from strangers (see README.md).
 * Everything here is pure computation on the text it is given: no network, no storage, no logs.
 */
import { classifyWith, combine, levelOf, type ScamLevel, type ScamVerdict } from './classify.ts';
import { featurize } from './features.ts';
import { shippedModel } from './model.ts';
import { read } from './reading.ts';
import { detectSignals, type ScamSignalId } from './rules.ts';

export { LEVEL_THRESHOLDS, type ScamLevel, type ScamVerdict } from './classify.ts';
export type { Span } from './normalize.ts';
export { MAX_INPUT_LENGTH } from './reading.ts';
export { SCAM_SIGNAL_IDS, type ScamSignal, type ScamSignalId, SIGNAL_WEIGHTS } from './rules.ts';

/**
 * Scores one message. Only the first `MAX_INPUT_LENGTH` UTF-16 units are read. Never throws;
 * returns the same verdict for the same text.
 */
export function classify(text: string): ScamVerdict {
  return classifyWith(shippedModel(), text);
}

/** How many opening messages of a conversation `classifyConversation` reads. */
export const CONVERSATION_WINDOW = 5;

export type ConversationSpan = { message: number; start: number; end: number };
export type ConversationSignal = { id: ScamSignalId; spans: ConversationSpan[] };
export type ConversationVerdict = { level: ScamLevel; score: number; signals: ConversationSignal[] };

/**
 * Scores the first messages of a stranger's conversation together: a scam spread over several
 * messages ("hi, this is the bank" / "we see a suspicious payment" / "tell me the code") adds up
 * rule signals that no single message carries. The score is the highest of the joined text's and
 * each message's own, so friendly small talk around a scam message cannot dilute it.
 */
export function classifyConversation(messages: readonly string[]): ConversationVerdict {
  const considered = messages.slice(0, CONVERSATION_WINDOW);
  const model = shippedModel();
  // Joined with line breaks, which no rule matches across; offsets map spans back to messages.
  const offsets: number[] = [];
  let joined = '';
  for (const m of considered) {
    offsets.push(joined.length);
    joined += `${m}\n`;
  }
  const reading = read(joined);
  const signals = detectSignals(reading);
  let score = combine(model.logit(featurize(reading)), signals);
  for (const m of considered) score = Math.max(score, classifyWith(model, m).score);
  return {
    level: levelOf(score),
    score,
    signals: signals.map(({ id, spans }) => ({ id, spans: spans.flatMap((s) => splitSpan(s, offsets)) })),
  };
}

/** A span of the joined text as spans of the messages it covers. */
function splitSpan(span: { start: number; end: number }, offsets: readonly number[]): ConversationSpan[] {
  const out: ConversationSpan[] = [];
  offsets.forEach((offset, message) => {
    const next = offsets[message + 1] ?? Number.POSITIVE_INFINITY;
    // `next - 1` drops the joining line break.
    const start = Math.max(span.start, offset);
    const end = Math.min(span.end, next - 1);
    if (start < end) out.push({ message, start: start - offset, end: end - offset });
  });
  return out;
}

/**
 * Reminders for the warning banner of a call from someone who is not a contact. Keys only; the UI
 * translates them. Ordered by how often the tactic behind each appears in bank and police warnings.
 */
export const CALL_SCAM_TIPS = [
  'never-share-codes',
  'bank-never-calls',
  'hang-up-and-call-back',
  'no-safe-account',
  'no-remote-access',
  'police-never-ask-money',
  'no-secrecy',
] as const;
export type CallScamTip = (typeof CALL_SCAM_TIPS)[number];
