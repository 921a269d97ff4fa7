/**
 * The learned half of the classifier: logistic regression over the hashed features of
 * features.ts. The weights come from `scripts/train.ts` and ship as `weights.ts`, quantised to one
 * signed byte each (the accuracy it costs is measured and printed by the trainer).
 */
import { base64 } from '@scure/base';
import { FEATURE_BITS, type Features } from './features.ts';
import { WEIGHTS } from './weights.ts';

export type QuantisedWeights = {
  readonly bits: number;
  readonly bias: number;
  /** Weight i is `int8[i] * scale`. */
  readonly scale: number;
  /** The int8 weights, base64. */
  readonly data: string;
};

export class LogisticModel {
  readonly weights: Float32Array;
  readonly bias: number;

  constructor(weights: Float32Array, bias: number) {
    if (weights.length !== 1 << FEATURE_BITS) {
      throw new Error(`expected ${1 << FEATURE_BITS} weights, got ${weights.length}`);
    }
    this.weights = weights;
    this.bias = bias;
  }

  static fromQuantised(q: QuantisedWeights): LogisticModel {
    if (q.bits !== FEATURE_BITS)
      throw new Error(`weights are for ${q.bits} bits, features use ${FEATURE_BITS}`);
    const bytes = base64.decode(q.data);
    const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const weights = new Float32Array(signed.length);
    for (let i = 0; i < signed.length; i++) weights[i] = (signed[i] ?? 0) * q.scale;
    return new LogisticModel(weights, q.bias);
  }

  /** Log-odds that the message is a scam. */
  logit(f: Features): number {
    let z = this.bias;
    for (let i = 0; i < f.index.length; i++) z += (this.weights[f.index[i] ?? 0] ?? 0) * (f.value[i] ?? 0);
    return z;
  }
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** Rounds each weight to one of 255 steps of the largest; what `weights.ts` stores. */
export function quantise(weights: Float32Array, bias: number): QuantisedWeights {
  let max = 0;
  for (const w of weights) max = Math.max(max, Math.abs(w));
  const scale = max > 0 ? max / 127 : 1;
  const signed = new Int8Array(weights.length);
  for (let i = 0; i < weights.length; i++) signed[i] = Math.round((weights[i] ?? 0) / scale);
  return {
    bits: FEATURE_BITS,
    bias,
    scale,
    data: base64.encode(new Uint8Array(signed.buffer)),
  };
}

let shipped: LogisticModel | undefined;

/** The model trained by `npm run train`, decoded on first use. */
export function shippedModel(): LogisticModel {
  shipped ??= LogisticModel.fromQuantised(WEIGHTS);
  return shipped;
}
