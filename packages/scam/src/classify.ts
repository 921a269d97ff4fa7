/**
 * How the rules and the model make one verdict.
 *
 * The model gives log-odds `z` that a message is a scam; each distinct rule signal adds its
 * weight from `SIGNAL_WEIGHTS` (also log-odds), and `score = sigmoid(max(z, MODEL_FLOOR) + Σ w)`.
 * Adding log-odds treats the signals as independent evidence, as naive Bayes would; it is not
 * exactly true (the model has read the same words) and is why the weights are modest. The floor
 * means a model that is sure a message is harmless cannot veto two rules that agree: a message the
 * model has never seen the like of, asking for an SMS code and naming the bank's security service,
 * still reaches "possible".
 *
 * The level depends on the score alone, so it only ever rises with it.
 */
import { featurize } from './features.ts';
import type { LogisticModel } from './model.ts';
import { sigmoid } from './model.ts';
import { read } from './reading.ts';
import { detectSignals, type ScamSignal, type ScamSignalId, SIGNAL_WEIGHTS } from './rules.ts';

export type ScamLevel = 'none' | 'possible' | 'likely';

export type ScamVerdict = {
  level: ScamLevel;
  /** 0..1: how likely a scam, rules and model together. */
  score: number;
  /** Why: each signal found, with where in the text (UTF-16 offsets into the text given). */
  signals: ScamSignal[];
};

/** The lowest model log-odds the verdict uses (sigmoid ≈ 0.05). */
export const MODEL_FLOOR = -3;
/** Score at which a message is flagged at all, and at which the warning is strong. */
export const LEVEL_THRESHOLDS = { possible: 0.5, likely: 0.85 } as const;

export function levelOf(score: number): ScamLevel {
  if (score >= LEVEL_THRESHOLDS.likely) return 'likely';
  if (score >= LEVEL_THRESHOLDS.possible) return 'possible';
  return 'none';
}

export function combine(modelLogit: number, signals: readonly { id: ScamSignalId }[]): number {
  let z = Number.isFinite(modelLogit) ? Math.max(modelLogit, MODEL_FLOOR) : MODEL_FLOOR;
  for (const id of new Set(signals.map((s) => s.id))) z += SIGNAL_WEIGHTS[id];
  return sigmoid(z);
}

/** `classify` with a given model: the trainer scores its fresh weights with the same code. */
export function classifyWith(model: LogisticModel, text: string): ScamVerdict {
  const reading = read(text);
  const signals = detectSignals(reading);
  const score = combine(model.logit(featurize(reading)), signals);
  return { level: levelOf(score), score, signals };
}
