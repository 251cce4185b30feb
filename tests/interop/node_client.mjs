// Interop: Node `ws` (an independent implementation) against lariat's echo.
//
// Usage: node node_client.mjs ws://127.0.0.1:PORT/
//
// Each scenario sets `perMessageDeflate` differently, exchanges text and
// binary messages from 0 B to 16 MiB, whole and fragmented, then closes with
// a code the server must echo; one more lets the server close (a message
// over the echo's 16 MiB limit: 1009). The last line is "N passed, M failed".
import { WebSocket } from "ws";
import { randomBytes } from "node:crypto";

const url = process.argv[2];
const SIZES = [0, 1, 125, 126, 1024, 65535, 65536, 1 << 20, 4 << 20, 16 << 20];

const SCENARIOS = {
  "no compression": false,
  "deflate defaults": { threshold: 0 },
  "no context takeover": { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
  "max window bits 9": { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
  "server window 8": { threshold: 0, serverMaxWindowBits: 8 },
};

function textOf(size) {
  const row = JSON.stringify({ user: "ada", text: "hello, κόσμε ✓", n: 12345 });
  // Sizes are in bytes; build enough characters, then cut at a byte boundary.
  let text = row.repeat(Math.ceil(size / row.length) + 1);
  let bytes = Buffer.from(text).subarray(0, size);
  // Drop a cut code point at the end, so the text stays valid UTF-8.
  while (bytes.length && !Buffer.from(bytes.toString()).equals(bytes)) bytes = bytes.subarray(0, bytes.length - 1);
  return bytes.toString();
}

function open(perMessageDeflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 0 });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function next(ws) {
  return new Promise((resolve, reject) => {
    const onMessage = (data, isBinary) => {
      ws.off("close", onClose);
      resolve({ data, isBinary });
    };
    const onClose = (code) => {
      ws.off("message", onMessage);
      reject(new Error(`closed ${code} while waiting`));
    };
    ws.once("message", onMessage);
    ws.once("close", onClose);
  });
}

async function scenario(perMessageDeflate) {
  const ws = await open(perMessageDeflate);
  const negotiated = ws.extensions;
  if (perMessageDeflate && !negotiated.includes("permessage-deflate")) throw new Error("deflate not accepted");
  for (const size of SIZES) {
    const text = textOf(size);
    ws.send(text);
    const t = await next(ws);
    if (t.isBinary || t.data.toString() !== text) throw new Error(`text ${size}`);
    const data = randomBytes(size);
    ws.send(data);
    const b = await next(ws);
    if (!b.isBinary || !Buffer.from(b.data).equals(data)) throw new Error(`binary ${size}`);
  }
  // Fragmented text: ws sends fragments with `fin: false`.
  ws.send("frag", { fin: false });
  ws.send("mented ", { fin: false });
  ws.send("κόσμε".repeat(1000), { fin: true });
  const f = await next(ws);
  if (f.data.toString() !== "fragmented " + "κόσμε".repeat(1000)) throw new Error("fragmented text");
  // 16 MiB of binary in 1 MiB fragments.
  const big = randomBytes(16 << 20);
  for (let i = 0; i < 16; i++) ws.send(big.subarray(i << 20, (i + 1) << 20), { binary: true, fin: i === 15 });
  const g = await next(ws);
  if (!g.isBinary || !Buffer.from(g.data).equals(big)) throw new Error("fragmented 16 MiB binary");
  const closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve([code, reason.toString()])));
  ws.close(4001, "node says bye");
  const [code] = await closed;
  if (code !== 4001) throw new Error(`echoed close code ${code}`);
}

// 17 MiB exceeds the echo's 16 MiB limit: the server closes with 1009.
async function serverClosesOverTheLimit() {
  const ws = await open(false);
  const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  ws.on("error", () => {}); // the server may close while we still send
  ws.send(Buffer.alloc(17 << 20));
  const code = await closed;
  if (code !== 1009) throw new Error(`the server closed with ${code}`);
}

const CASES = Object.entries(SCENARIOS).map(([name, options]) => [name, () => scenario(options)]);
CASES.push(["server closes with 1009 over the limit", serverClosesOverTheLimit]);

let passed = 0;
let failed = 0;
for (const [name, run] of CASES) {
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), 60000)),
    ]);
    console.log(`ok    node ws: ${name}`);
    passed++;
  } catch (error) {
    console.log(`FAIL  node ws: ${name}: ${error.message}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
