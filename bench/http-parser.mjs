// The choice of HTTP parser for the lean path: Node's llhttp binding (what Loom drives) against
// llhttp compiled to WebAssembly (undici's build, found in node_modules through tap's
// dependencies; skipped when absent), parsing the same browser-like request, header strings
// built in both. Prints ns per request, median of 5 runs.
//   node bench/http-parser.mjs
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { HTTPParser } = process.getBuiltinModule('_http_common');
const REQ = Buffer.from('GET /hello/world?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n');
const N = 300_000;

function time(parse) {
  for (let i = 0; i < 20_000; i++) parse(REQ);
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) parse(REQ);
    runs.push(Number(process.hrtime.bigint() - t0) / N);
  }
  return runs.sort((a, b) => a - b)[2];
}

const p = new HTTPParser();
p.initialize(HTTPParser.REQUEST, {}, 0, 0);
let parsed = 0;
p[HTTPParser.kOnMessageBegin] = () => 0;
p[HTTPParser.kOnHeadersComplete] = () => { parsed++; return 0; };
p[HTTPParser.kOnMessageComplete] = () => {};
const binding = time((b) => p.execute(b));

let wasm = null;
let wasmBytes = null;
try { wasmBytes = require('undici/lib/llhttp/llhttp_simd-wasm.js'); } catch { /* not installed */ }
if (wasmBytes) {
  let mem = null;
  let url = '';
  let fields = [];
  const text = (at, len) => Buffer.from(mem.buffer, at, len).latin1Slice(0, len);
  const { instance } = await WebAssembly.instantiate(wasmBytes, { env: {
    wasm_on_url: (_p, at, len) => { url += text(at, len); return 0; },
    wasm_on_status: () => 0,
    wasm_on_message_begin: () => { url = ''; fields = []; return 0; },
    wasm_on_header_field: (_p, at, len) => { fields.push(text(at, len)); return 0; },
    wasm_on_header_value: (_p, at, len) => { fields.push(text(at, len)); return 0; },
    wasm_on_headers_complete: () => { parsed++; return 0; },
    wasm_on_body: () => 0,
    wasm_on_message_complete: () => 0,
  } });
  const ll = instance.exports;
  mem = ll.memory;
  const ptr = ll.llhttp_alloc(0); // a request parser
  const buf = ll.malloc(4096);
  // As undici feeds it: each read is copied into WebAssembly memory first.
  wasm = time((b) => { new Uint8Array(mem.buffer, buf, b.length).set(b); return ll.llhttp_execute(ptr, buf, b.length); });
}

console.log(`Node ${process.version}, one ${REQ.length}-byte request, ns per request (median of 5 × ${N}):`);
console.log(`  llhttp binding (Loom's lean path):  ${binding.toFixed(0)}`);
console.log(wasm === null ? '  llhttp WebAssembly: undici not installed, skipped' : `  llhttp WebAssembly (undici's build): ${wasm.toFixed(0)}  (${(wasm / binding).toFixed(2)}× the binding)`);
