// run.js MODEL.onnx IN.f32 DIMS OUT.f32 [REPEAT]: ONNX Runtime (the npm
// package onnxruntime-node, found through NODE_PATH) runs MODEL on the raw
// float32 rows of IN.f32, each of shape DIMS (comma-separated), and writes
// the output "output" as raw float32 to OUT.f32. With REPEAT, each row is
// also run alone REPEAT times and the median batch-1 latency printed.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inPath, dimsArg, outPath, repeatArg] = process.argv.slice(2);
  const dims = dimsArg.split(',').map(Number);
  const per = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(inPath);
  const x = new Float32Array(buf.buffer.slice(buf.byteOffset,
                                               buf.byteOffset + buf.length));
  const n = x.length / per;
  const opts = {intraOpNumThreads: 1, interOpNumThreads: 1};
  const s = await ort.InferenceSession.create(model, opts);
  const r = await s.run({input: new ort.Tensor('float32', x, [n, ...dims])});
  const y = r.output.data;
  fs.writeFileSync(outPath, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  const repeat = Number(repeatArg || 0);
  if (repeat > 0) {
    const times = [];
    for (let k = 0; k < repeat; k++) {
      const row = x.subarray((k % n) * per, (k % n + 1) * per);
      const t = new ort.Tensor('float32', Float32Array.from(row), [1, ...dims]);
      const t0 = process.hrtime.bigint();
      await s.run({input: t});
      times.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    times.sort((a, b) => a - b);
    console.log(`onnxruntime batch-1 median ${times[times.length >> 1].toFixed(1)} us`);
  }
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
