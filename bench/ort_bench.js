// Times ONNX Runtime's CPU engine on a model: session creation, the first run, then steady-state
// runs, on the same .npy inputs ramscli gets.  Prints one JSON line.
//   node bench/ort_bench.js MODEL.onnx THREADS RUNS INPUT.npy
// onnxruntime-node is resolved from ORT_DIR (bench/run.sh installs it there, never as a project
// dependency).
const path = require('path');
const {readNpy} = require('./npy.js');
const ort = require(path.join(process.env.ORT_DIR, 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, threads, runs, input] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const t1 = process.hrtime.bigint();
  const x = readNpy(input);
  const feeds = { input: new ort.Tensor('float32', x.data, [1, ...x.shape]) };
  let out = await session.run(feeds);
  const t2 = process.hrtime.bigint();
  const times = [];
  for (let i = 0; i < Number(runs); i++) {
    const s = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) / 1e9);
  }
  times.sort((a, b) => a - b);
  const logits = Array.from(out.logits.data);
  console.log(JSON.stringify({
    engine: 'onnxruntime-node ' + (ort.env.versions ? ort.env.versions.common : ''),
    load_s: Number(t1 - t0) / 1e9, first_s: Number(t2 - t1) / 1e9,
    median_s: times[Math.floor(times.length / 2)], min_s: times[0], runs: times.length,
    logits_head: logits.slice(0, 5),
  }));
}
main().catch(e => { console.error(e.message); process.exit(1); });
