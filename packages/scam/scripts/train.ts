/**
 * `npm run train -w @kolokol/scam`: trains the model on the generated corpus, writes
 * `src/weights.ts` and prints precision, recall and F1 on the generated test split (templates the
 * model never saw) and on the hand-written holdout (`corpus/holdout.jsonl`, never trained on).
 *
 * Logistic regression by plain SGD: seeded shuffles, a fixed schedule and one thread, so the same
 * corpus gives the same weights byte for byte. Classes are weighted to count equally whatever
 * their share of the corpus.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { classifyWith, LEVEL_THRESHOLDS } from '../src/classify.ts';
import { FEATURE_BITS, type Features, featurize } from '../src/features.ts';
import { LogisticModel, quantise, sigmoid } from '../src/model.ts';
import { read } from '../src/reading.ts';
import { CORPUS_SEED, type Example, generateCorpus, prng } from './generate.ts';
import type { Label, Lang } from './templates/types.ts';

export const TRAINING = {
  epochs: 12,
  learningRate: 0.5,
  /** L2 penalty per update, on the weights the update touches. */
  l2: 2e-5,
  shuffleSeed: 7,
} as const;

export type Labelled = { text: string; label: Label; lang: Lang };

export function loadHoldout(
  path = fileURLToPath(new URL('../corpus/holdout.jsonl', import.meta.url)),
): Labelled[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const row: unknown = JSON.parse(line);
      if (
        typeof row !== 'object' ||
        row === null ||
        !('text' in row) ||
        typeof row.text !== 'string' ||
        !('label' in row) ||
        (row.label !== 'scam' && row.label !== 'benign') ||
        !('lang' in row) ||
        (row.lang !== 'en' && row.lang !== 'ru' && row.lang !== 'mixed')
      ) {
        throw new Error(`holdout line ${i + 1} is not {text, label, lang}: ${line}`);
      }
      return { text: row.text, label: row.label, lang: row.lang };
    });
}

export function train(examples: readonly Example[]): LogisticModel {
  const rows: { x: Features; y: number }[] = examples.map((e) => ({
    x: featurize(read(e.text)),
    y: e.label === 'scam' ? 1 : 0,
  }));
  const positives = rows.filter((r) => r.y === 1).length;
  const classWeight = [rows.length / (2 * (rows.length - positives)), rows.length / (2 * positives)];
  const w = new Float64Array(1 << FEATURE_BITS);
  let bias = 0;
  const rng = prng(TRAINING.shuffleSeed);
  const order = rows.map((_, i) => i);
  let step = 0;
  for (let epoch = 0; epoch < TRAINING.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
    }
    for (const k of order) {
      const row = rows[k];
      if (row === undefined) continue;
      const lr = TRAINING.learningRate / (1 + step / rows.length);
      step++;
      let z = bias;
      for (let f = 0; f < row.x.index.length; f++) z += (w[row.x.index[f] ?? 0] ?? 0) * (row.x.value[f] ?? 0);
      const g = (sigmoid(z) - row.y) * (classWeight[row.y] ?? 1);
      for (let f = 0; f < row.x.index.length; f++) {
        const slot = row.x.index[f] ?? 0;
        const old = w[slot] ?? 0;
        w[slot] = old - lr * (g * (row.x.value[f] ?? 0) + TRAINING.l2 * old);
      }
      bias -= lr * g;
    }
  }
  return new LogisticModel(Float32Array.from(w), bias);
}

export type Scores = {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number;
  recall: number;
  f1: number;
};

export function scores(truth: readonly boolean[], flagged: readonly boolean[]): Scores {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  truth.forEach((t, i) => {
    const f = flagged[i] ?? false;
    if (t && f) tp++;
    else if (!t && f) fp++;
    else if (t && !f) fn++;
    else tn++;
  });
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { tp, fp, fn, tn, precision, recall, f1 };
}

/** The figures the README records: model alone, and the verdict at each level. */
export function evaluate(model: LogisticModel, data: readonly Labelled[]): Record<string, Scores> {
  const truth = data.map((d) => d.label === 'scam');
  const verdicts = data.map((d) => classifyWith(model, d.text));
  const modelOnly = data.map((d) => model.logit(featurize(read(d.text))) >= 0);
  const rulesOnly = verdicts.map((v) => v.signals.some((s) => s.id !== 'link'));
  return {
    'model alone (p >= 0.5)': scores(truth, modelOnly),
    'rules alone (any signal but link)': scores(truth, rulesOnly),
    [`verdict possible+ (score >= ${LEVEL_THRESHOLDS.possible})`]: scores(
      truth,
      verdicts.map((v) => v.level !== 'none'),
    ),
    [`verdict likely (score >= ${LEVEL_THRESHOLDS.likely})`]: scores(
      truth,
      verdicts.map((v) => v.level === 'likely'),
    ),
  };
}

function table(title: string, results: Record<string, Scores>): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const lines = [`${title}`, '| | precision | recall | F1 | false positives |', '|---|---|---|---|---|'];
  for (const [name, s] of Object.entries(results)) {
    lines.push(
      `| ${name} | ${pct(s.precision)} | ${pct(s.recall)} | ${s.f1.toFixed(3)} | ${s.fp} of ${s.fp + s.tn} |`,
    );
  }
  return lines.join('\n');
}

function weightsSource(model: LogisticModel, summary: string): string {
  const q = quantise(model.weights, model.bias);
  return `// Generated by \`npm run train -w @kolokol/scam\` (scripts/train.ts) from the corpus of seed ${CORPUS_SEED}.
// Do not edit: retrain. ${summary}
import type { QuantisedWeights } from './model.ts';

export const WEIGHTS: QuantisedWeights = {
  bits: ${q.bits},
  bias: ${q.bias},
  scale: ${q.scale},
  data: '${q.data}',
};
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const corpus = generateCorpus();
  const trainSet = corpus.filter((e) => e.split === 'train');
  const testSet = corpus.filter((e) => e.split === 'test');
  const holdout = loadHoldout();
  const count = (xs: readonly { label: Label }[], l: Label): number => xs.filter((x) => x.label === l).length;
  console.log(
    `corpus: ${corpus.length} generated messages (train ${trainSet.length}: ${count(trainSet, 'scam')} scam / ${count(trainSet, 'benign')} benign; ` +
      `test ${testSet.length}: ${count(testSet, 'scam')} / ${count(testSet, 'benign')}), holdout ${holdout.length}: ${count(holdout, 'scam')} / ${count(holdout, 'benign')}`,
  );
  const trained = train(trainSet);
  const shipped = LogisticModel.fromQuantised(quantise(trained.weights, trained.bias));
  console.log(table('\nfloat weights, generated test split', evaluate(trained, testSet)));
  console.log(table('\nshipped int8 weights, generated test split', evaluate(shipped, testSet)));
  const onHoldout = evaluate(shipped, holdout);
  console.log(table('\nshipped int8 weights, hand-written holdout', onHoldout));
  for (const lang of ['en', 'ru', 'mixed'] as const) {
    console.log(
      table(
        `\nholdout, ${lang} only`,
        evaluate(
          shipped,
          holdout.filter((h) => h.lang === lang),
        ),
      ),
    );
  }
  const possible = Object.entries(onHoldout).find(([k]) => k.startsWith('verdict possible'))?.[1];
  const summary = possible === undefined ? '' : `Holdout F1 at "possible": ${possible.f1.toFixed(3)}.`;
  const target = fileURLToPath(new URL('../src/weights.ts', import.meta.url));
  writeFileSync(target, weightsSource(trained, summary));
  console.log(`\nwrote ${target}`);
}
