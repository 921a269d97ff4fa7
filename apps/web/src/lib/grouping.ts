/**
 * Turns a conversation's messages into what the message log shows: day dividers, and runs of
 * messages from one sender within a few minutes (drawn as one block, name and avatar once).
 */
import { type DayLabel, dayLabel } from './format.ts';

export interface Groupable {
  id: string;
  senderId: string;
  sentAt: number;
}

export type LogItem<M extends Groupable> =
  | { kind: 'day'; key: string; label: DayLabel }
  | { kind: 'message'; key: string; message: M; firstOfRun: boolean; lastOfRun: boolean };

/** Messages closer than this from the same sender belong to one run. */
export const RUN_GAP_MS = 5 * 60 * 1000;

function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function groupMessages<M extends Groupable>(
  messages: readonly M[],
  now: number,
  locale: string,
): LogItem<M>[] {
  const out: LogItem<M>[] = [];
  let prev: M | undefined;
  let lastDay = '';
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m === undefined) continue;
    const day = dayKey(m.sentAt);
    const newDay = day !== lastDay;
    if (newDay) {
      out.push({ kind: 'day', key: `day:${day}`, label: dayLabel(m.sentAt, now, locale) });
      lastDay = day;
    }
    const next = messages[i + 1];
    const firstOfRun =
      newDay || prev === undefined || prev.senderId !== m.senderId || m.sentAt - prev.sentAt > RUN_GAP_MS;
    const lastOfRun =
      next === undefined ||
      next.senderId !== m.senderId ||
      next.sentAt - m.sentAt > RUN_GAP_MS ||
      dayKey(next.sentAt) !== day;
    out.push({ kind: 'message', key: m.id, message: m, firstOfRun, lastOfRun });
    prev = m;
  }
  return out;
}
