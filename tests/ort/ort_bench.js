// SPDX-License-Identifier: MIT
// Times an exported decoder in real ONNX Runtime (npm onnxruntime-node, CPU EP), as ORT GenAI drives it: a prompt
// prefill on an empty past, then greedy decode steps of one token feeding each step's present K/V back as past.
//
//   node ort_bench.js MODEL.onnx [--threads N] [--prompt P] [--gen G] [--runs R]
//
// Prints one JSON object: {"ort_version", "threads", "prompt", "gen", "runs", "prefill_tokens_per_s",
// "decode_tokens_per_s", "decode_best_step_tokens_per_s", "load_s"}; each rate is the best of `runs` timed
// repetitions after one warm-up; the best step's is 1 / the fastest single decode step's session.run (a figure
// that a loaded machine's preemptions rarely reach, for comparisons on shared machines).
'use strict';
const ort = require('onnxruntime-node');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main() {
  const model = process.argv[2];
  const threads = arg('--threads', 1), P = arg('--prompt', 128), G = arg('--gen', 32), runs = arg('--runs', 3);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const load_s = Number(process.hrtime.bigint() - t0) / 1e9;
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const meta = session.inputMetadata;
  // [batch, kv_heads, past, head_dim] from the declared shape of the first past input.
  const m0 = Array.isArray(meta) ? meta.find((m) => m.name === pastNames[0]) : meta[pastNames[0]];
  const dims = m0.shape;
  const kvHeads = Number(dims[1]), headDim = Number(dims[3]);
  const vocabMeta = Array.isArray(session.outputMetadata) ? session.outputMetadata.find((m) => m.name === 'logits')
                                                          : session.outputMetadata.logits;
  const vocab = Number(vocabMeta.shape[2]);
  const ids = (n, seed) => BigInt64Array.from({length: n}, (_, i) => BigInt((seed * 7919 + i * 104729) % vocab));
  const mask = (n) => new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);

  async function once() {
    let past = {};
    for (const n of pastNames) past[n] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
    const p0 = process.hrtime.bigint();
    let out = await session.run({input_ids: new ort.Tensor('int64', ids(P, 1), [1, P]), attention_mask: mask(P), ...past});
    const prefill = Number(process.hrtime.bigint() - p0) / 1e9;
    const d0 = process.hrtime.bigint();
    let bestStep = Infinity;
    for (let s = 0; s < G; ++s) {
      const logits = out.logits.data;
      let best = 0;
      for (let j = 1; j < vocab; ++j) if (logits[(out.logits.dims[1] - 1) * vocab + j] > logits[(out.logits.dims[1] - 1) * vocab + best]) best = j;
      past = {};
      for (const n of pastNames) past[n] = out[n.replace('past_key_values.', 'present.')];
      const feeds = {input_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(best)), [1, 1]),
                     attention_mask: mask(P + s + 1), ...past};
      const s0 = process.hrtime.bigint();
      out = await session.run(feeds);
      bestStep = Math.min(bestStep, Number(process.hrtime.bigint() - s0) / 1e9);
    }
    const decode = Number(process.hrtime.bigint() - d0) / 1e9;
    return {prefill: P / prefill, decode: G / decode, step: G > 0 ? 1 / bestStep : 0};
  }
  await once();  // warm-up
  let best = {prefill: 0, decode: 0, step: 0};
  for (let r = 0; r < runs; ++r) {
    const x = await once();
    best = {prefill: Math.max(best.prefill, x.prefill), decode: Math.max(best.decode, x.decode),
            step: Math.max(best.step, x.step)};
  }
  process.stdout.write(JSON.stringify({ort_version: ort.env.versions ? ort.env.versions.common : '1.30.0', threads,
                                       prompt: P, gen: G, runs, prefill_tokens_per_s: best.prefill,
                                       decode_tokens_per_s: best.decode, decode_best_step_tokens_per_s: best.step,
                                       load_s}) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ORT error: ${String(e && e.message ? e.message : e).split('\n').join(' ')}\n`);
  process.exit(1);
});
