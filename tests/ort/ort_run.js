// SPDX-License-Identifier: MIT
// Runs ONNX models with real ONNX Runtime (npm onnxruntime-node, CPU EP) for MixQ's export tests.
//
//   node ort_run.js jobs.json
//
// jobs.json: [{"model": "/abs/model.onnx", "out_dir": "/abs/dir", "optimization": "all" | "disabled",
//              "inputs": {"input_ids": {"type": "int64", "dims": [1, 7], "file": "/abs/ids.bin"}, ...}}, ...]
// Input files hold raw little-endian values (int64 / int32 / float32 / float16). For each job every output is written to
// out_dir/<name>.bin (raw little-endian) and out_dir/outputs.json lists {name: {type, dims}}. Sessions are
// cached per (model, optimization). On any failure: "ORT error: <message>" on stderr and exit status 1.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array,  // raw IEEE half bits, as onnxruntime-node takes and returns float16 tensors
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
};

function readTensor(spec) {
  const Ctor = ARRAYS[spec.type];
  if (!Ctor) throw new Error(`unsupported input type ${spec.type}`);
  const buf = fs.readFileSync(spec.file);
  const count = spec.dims.reduce((a, b) => a * b, 1);
  if (buf.byteLength !== count * Ctor.BYTES_PER_ELEMENT)
    throw new Error(`${spec.file}: ${buf.byteLength} bytes, expected ${count * Ctor.BYTES_PER_ELEMENT} for dims [${spec.dims}]`);
  const copy = new ArrayBuffer(buf.byteLength);  // typed arrays need an aligned buffer of their own
  new Uint8Array(copy).set(buf);
  return new ort.Tensor(spec.type, new Ctor(copy), spec.dims);
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const sessions = new Map();
  for (const job of jobs) {
    const level = job.optimization || 'all';
    const key = `${job.model}|${level}`;
    if (!sessions.has(key)) {
      sessions.set(key, await ort.InferenceSession.create(job.model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: level,
        logSeverityLevel: 3,
      }));
    }
    const session = sessions.get(key);
    const feeds = {};
    for (const [name, spec] of Object.entries(job.inputs)) feeds[name] = readTensor(spec);
    const results = await session.run(feeds);
    fs.mkdirSync(job.out_dir, {recursive: true});
    const meta = {};
    for (const [name, t] of Object.entries(results)) {
      const d = t.data;
      fs.writeFileSync(path.join(job.out_dir, `${name}.bin`), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      meta[name] = {type: t.type, dims: t.dims.map(Number)};
    }
    fs.writeFileSync(path.join(job.out_dir, 'outputs.json'), JSON.stringify(meta));
  }
}

main().catch((e) => {
  process.stderr.write(`ORT error: ${String(e && e.message ? e.message : e).split('\n').join(' ')}\n`);
  process.exit(1);
});
