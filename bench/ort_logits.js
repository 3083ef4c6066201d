// Runs ONNX Runtime's CPU engine on every input of a stacked .npy [B, 3, S, S] (float32, one
// image at a time: the exported graphs take a batch of 1) and writes the logits [B, C] as raw
// little-endian float32 to OUT.  For tools/bench/ort_accuracy.py.
//   node bench/ort_logits.js MODEL.onnx INPUTS.npy OUT.f32
// onnxruntime-node is resolved from ORT_DIR, as in ort_bench.js.
const path = require('path');
const fs = require('fs');
const {readNpy} = require('./npy.js');
const ort = require(path.join(process.env.ORT_DIR, 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, input, out] = process.argv.slice(2);
  const {shape, data} = readNpy(input);
  if (shape.length !== 4) throw new Error(`${input}: expected [B, 3, S, S], got [${shape}]`);
  const per = shape[1] * shape[2] * shape[3];
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, graphOptimizationLevel: 'all'});
  const chunks = [];
  for (let b = 0; b < shape[0]; b++) {
    const x = new ort.Tensor('float32', data.subarray(b * per, (b + 1) * per), [1, shape[1], shape[2], shape[3]]);
    const r = await session.run({input: x});
    chunks.push(Buffer.from(new Float32Array(r.logits.data).buffer));
  }
  fs.writeFileSync(out, Buffer.concat(chunks));
}
main().catch(e => { console.error(e.message); process.exit(1); });
