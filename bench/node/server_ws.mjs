// Node `ws` echo server for the benchmarks: every text and binary message
// comes back as it came, permessage-deflate enabled (ws's defaults, which
// accept the client's no_context_takeover parameters), messages up to
// 16 MiB. Node runs JavaScript on one thread, like the Rust servers here.
//
//   node server_ws.mjs 127.0.0.1:0   # prints `listening 127.0.0.1:PORT`
import { WebSocketServer } from 'ws';

const arg = process.argv[2] ?? '127.0.0.1:9001';
const sep = arg.lastIndexOf(':');
const host = arg.slice(0, sep);
const port = Number(arg.slice(sep + 1));

const wss = new WebSocketServer({
  host,
  port,
  perMessageDeflate: true,
  maxPayload: 16 * 1024 * 1024,
  clientTracking: false,
});

wss.on('listening', () => {
  const { address, port } = wss.address();
  process.stdout.write(`listening ${address}:${port}\n`);
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
