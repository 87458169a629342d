// SPDX-License-Identifier: MIT
// Greedy decoding of an exported model in real ONNX Runtime (npm onnxruntime-node, CPU EP) the way ORT GenAI runs
// it with past_present_share_buffer: after the prompt, the KV cache lives in max_length-sized buffers that are
// bound as both the past input and the present output of every step (GroupQueryAttention then writes the new
// position in place), and the attention mask grows by one each step.
//
//   node ort_decode.js MODEL.onnx IDS(comma-separated) STEPS MAX_LENGTH OUT_DIR
//
// Writes OUT_DIR/tokens.json ({"tokens": [...], "present_dims": [...]}) and OUT_DIR/steps.bin: the fp32 logits of
// the last prompt position and of every decode step ([STEPS + 1, vocab]). "ORT error: ..." and exit 1 on failure.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [model, idsArg, stepsArg, maxArg, outDir] = process.argv.slice(2);
  const ids = idsArg.split(',').map((s) => BigInt(s));
  const steps = Number(stepsArg), maxLen = Number(maxArg);
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu'], logSeverityLevel: 3});
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const meta = session.inputMetadata;
  const m0 = Array.isArray(meta) ? meta.find((m) => m.name === pastNames[0]) : meta[pastNames[0]];
  const kvHeads = Number(m0.shape[1]), headDim = Number(m0.shape[3]);
  const mask = (n) => new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
  const P = ids.length;
  if (P + steps > maxLen) throw new Error('prompt + steps exceed max_length');

  // Prompt: empty past, present of length P.
  const feeds = {input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, P]), attention_mask: mask(P)};
  for (const n of pastNames) feeds[n] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
  let out = await session.run(feeds);
  const vocab = Number(out.logits.dims[2]);
  const rows = [out.logits.data.slice((P - 1) * vocab, P * vocab)];

  // The shared max_length buffers, filled with the prompt's present K/V.
  const buffers = {};
  for (const n of pastNames) {
    const present = out[n.replace('past_key_values.', 'present.')];
    const buf = new Float32Array(kvHeads * maxLen * headDim);
    for (let h = 0; h < kvHeads; ++h)
      buf.set(present.data.subarray(h * P * headDim, (h + 1) * P * headDim), h * maxLen * headDim);
    buffers[n] = new ort.Tensor('float32', buf, [1, kvHeads, maxLen, headDim]);
  }
  const tokens = [];
  let presentDims = null;
  for (let s = 0; s < steps; ++s) {
    const last = rows[rows.length - 1];
    let best = 0;
    for (let j = 1; j < vocab; ++j) if (last[j] > last[best]) best = j;
    tokens.push(best);
    const f = {input_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(best)), [1, 1]), attention_mask: mask(P + s + 1)};
    const fetches = {logits: null};
    for (const n of pastNames) {
      f[n] = buffers[n];
      fetches[n.replace('past_key_values.', 'present.')] = buffers[n];  // the same buffer: shared past/present
    }
    out = await session.run(f, fetches);
    presentDims = out[pastNames[0].replace('past_key_values.', 'present.')].dims.map(Number);
    rows.push(out.logits.data.slice(0, vocab));
  }
  fs.mkdirSync(outDir, {recursive: true});
  fs.writeFileSync(path.join(outDir, 'tokens.json'), JSON.stringify({tokens, present_dims: presentDims}));
  const all = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => all.set(r, i * vocab));
  fs.writeFileSync(path.join(outDir, 'steps.bin'), Buffer.from(all.buffer));
}

main().catch((e) => {
  process.stderr.write(`ORT error: ${String(e && e.message ? e.message : e).split('\n').join(' ')}\n`);
  process.exit(1);
});
