// End-to-end test of examples/chat in a real browser: Debian's Chromium,
// headless, driven over the DevTools protocol by playwright-core (which
// downloads no browser of its own).
//
// It starts the chat example on 127.0.0.1:0, opens the page twice (two
// browser contexts: two independent users), joins "ada" and "bob", sends a
// message each way, and checks that each page shows the other's message and
// both names in the user list, that permessage-deflate was negotiated (the
// handshake response seen by the browser's network stack, and the page's
// `WebSocket.extensions`), and that a leave reaches the other page. It saves
// screenshots to target/browser/.
//
// A second test has Chromium exchange text and binary from 0 B to 16 MiB
// with examples/echo (compressed), close with 4000 (echoed), and get 1009
// for a message over the echo's limit: Chromium as an interop peer.
//
//   CHAT_BIN      the chat example binary (default target/release/examples/chat)
//   ECHO_BIN      the echo example binary (default target/release/examples/echo)
//   CHROMIUM_BIN  the browser (default Debian's /usr/lib/chromium/chromium)
//   SCREENSHOT_DIR where the screenshots go (default target/browser)
//
// Run by .ci/browser.sh, which builds the example and installs what is
// missing. Without Chromium the test is reported as SKIPPED.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { once } from "node:events";
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = resolve(root, process.env.CARGO_TARGET_DIR ?? "target");
const chatBin = process.env.CHAT_BIN ?? join(targetDir, "release/examples/chat");
const screenshotDir = process.env.SCREENSHOT_DIR ?? join(targetDir, "browser");

/** How long any one step may take. */
const STEP_MS = 15_000;

/** The flags the issue asks for, plus what a test needs. */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  // Containers often have a small /dev/shm; Debian's launcher adds this too.
  "--disable-dev-shm-usage",
  // An ephemeral port, printed on stderr as "DevTools listening on ws://...".
  "--remote-debugging-port=0",
];

/** Debian's Chromium: the real binary, not the launcher script, so the flags
 * above are exactly the flags it runs with. */
function findChromium() {
  const candidates = [
    process.env.CHROMIUM_BIN,
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
  ].filter(Boolean);
  return candidates.find((path) => existsSync(path));
}

/** Resolves with the first match of `pattern` in a child's output stream. */
function waitForLine(child, stream, pattern, what) {
  return new Promise((resolvePromise, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}; output so far:\n${seen}`)),
      STEP_MS,
    );
    child[stream].setEncoding("utf8");
    child[stream].on("data", (chunk) => {
      seen += chunk;
      const match = seen.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: the process exited with ${code}; output:\n${seen}`));
    });
  });
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await once(child, "exit");
  clearTimeout(killer);
}

/** Opens the chat page in a fresh context and records the WebSocket
 * handshake responses its network stack sees. */
async function openPage(browser, url) {
  const context = await browser.newContext({ viewport: { width: 900, height: 520 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const handshakes = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  cdp.on("Network.webSocketHandshakeResponseReceived", (event) => {
    handshakes.push(event.response);
  });
  const frames = [];
  page.on("websocket", (ws) => {
    ws.on("framereceived", (frame) => frames.push(frame.payload));
  });
  await page.goto(url);
  assert.equal(await page.title(), "lariat chat");
  return { context, page, handshakes, frames };
}

async function joinAs(page, nick) {
  await page.fill("#nick", nick);
  await page.click("#join button");
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected");
}

async function say(page, line) {
  await page.fill("#line", line);
  await page.press("#line", "Enter");
}

/** Waits until the page's user list is exactly `nicks`. */
async function waitForUsers(page, nicks) {
  const expected = nicks.join(",");
  try {
    await page.waitForFunction(
      (want) => [...document.querySelectorAll("#users li")].map((li) => li.textContent).join(",") === want,
      expected,
    );
  } catch (error) {
    const shown = await page.$$eval("#users li", (items) => items.map((li) => li.textContent));
    throw new Error(`user list: expected ${expected}, shown ${shown.join(",")}`, { cause: error });
  }
}

/** Waits until the page's log shows `text` said by `from`. */
async function waitForSaid(page, from, text) {
  try {
    await page.waitForFunction(
      ([who, what]) =>
        [...document.querySelectorAll("#log li")].some(
          (li) => li.querySelector("b")?.textContent === who && li.lastChild?.textContent === what,
        ),
      [from, text],
    );
  } catch (error) {
    const log = await page.$$eval("#log li", (items) => items.map((li) => li.textContent));
    throw new Error(`log: expected "${from}: ${text}", shown:\n${log.join("\n")}`, { cause: error });
  }
}

async function waitForNotice(page, text) {
  await page.locator("#log li.notice", { hasText: text }).first().waitFor();
}

function header(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

/**
 * Starts `bin` on 127.0.0.1:0 and waits for the line matching `pattern`
 * (its address), then starts Chromium with a fresh profile and attaches to
 * it. Everything is torn down after the test. Returns `null` (the test is
 * skipped) when Chromium is not installed.
 */
async function serverAndChromium(t, bin, pattern, what) {
  const chromiumPath = findChromium();
  if (!chromiumPath) {
    console.log("SKIPPED: Chromium is not installed (apt-get install chromium)");
    t.skip("Chromium is not installed");
    return null;
  }
  assert.ok(existsSync(bin), `no binary at ${bin}: cargo build --release --example chat --example echo`);
  const profile = mkdtempSync(join(tmpdir(), "lariat-chromium-"));
  const running = {};
  t.after(async () => {
    await running.browser?.close().catch(() => {});
    await stop(running.browserProcess);
    await stop(running.server);
    // Chromium's helper processes may still be writing as it exits: the
    // profile is a temporary directory, so removing it is best effort.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (error) {
      console.log(`note: could not remove ${profile}: ${error.message}`);
    }
  });
  running.server = spawn(bin, ["127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  const address = await waitForLine(running.server, "stdout", pattern, what);
  console.log(`${what} at ${address}`);
  running.browserProcess = spawn(chromiumPath, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "about:blank"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const endpoint = await waitForLine(
    running.browserProcess,
    "stderr",
    /DevTools listening on (ws:\/\/\S+)/,
    "Chromium's DevTools endpoint",
  );
  running.browser = await chromium.connectOverCDP(endpoint, { timeout: STEP_MS });
  console.log(`Chromium ${running.browser.version()} at ${chromiumPath}`);
  return { address, browser: running.browser };
}

test("chat: two users in headless Chromium", { timeout: 120_000 }, async (t) => {
  const started = await serverAndChromium(t, chatBin, /chat: open (http:\/\/[0-9.:]+\/) in a browser/, "the chat server");
  if (!started) return;
  const { address, browser } = started;

  const ada = await openPage(browser, address);
  const bob = await openPage(browser, address);

  await joinAs(ada.page, "ada");
  await waitForUsers(ada.page, ["ada"]);
  await joinAs(bob.page, "bob");
  await waitForUsers(bob.page, ["ada", "bob"]);
  await waitForNotice(ada.page, "bob joined");
  await waitForUsers(ada.page, ["ada", "bob"]);
  assert.ok(await ada.page.isVisible("#say"), "the message box shows once joined");
  assert.ok(!(await ada.page.isVisible("#join")), "the join form hides once joined");

  await say(ada.page, "hello bob");
  await waitForSaid(bob.page, "ada", "hello bob");
  await say(bob.page, "hi ada, did you see the deflate?");
  await waitForSaid(ada.page, "bob", "hi ada, did you see the deflate?");
  // Everyone hears everything, their own lines too.
  await waitForSaid(ada.page, "ada", "hello bob");
  await waitForSaid(bob.page, "bob", "hi ada, did you see the deflate?");

  // Compression: the handshake response Chromium received, and what the
  // page's WebSocket reports.
  for (const [nick, user] of [["ada", ada], ["bob", bob]]) {
    assert.equal(user.handshakes.length, 1, `${nick}: one WebSocket handshake`);
    const [response] = user.handshakes;
    assert.equal(response.status, 101, `${nick}: 101 Switching Protocols`);
    const extensions = header(response.headers, "Sec-WebSocket-Extensions");
    assert.match(extensions ?? "", /^permessage-deflate\b/, `${nick}: Sec-WebSocket-Extensions: ${extensions}`);
    const negotiated = await user.page.evaluate(() => ws.extensions);
    assert.match(negotiated, /permessage-deflate/, `${nick}: WebSocket.extensions = ${negotiated}`);
    console.log(`${nick}: Sec-WebSocket-Extensions: ${extensions}`);
    assert.ok(user.frames.some((payload) => payload.includes('"type":"said"')), `${nick}: said frames`);
  }

  mkdirSync(screenshotDir, { recursive: true });
  const shot = join(screenshotDir, "chat.png");
  await ada.page.screenshot({ path: shot });
  await bob.page.screenshot({ path: join(screenshotDir, "chat-bob.png") });
  console.log(`screenshot: ${shot}`);

  // Leaving: bob quits, ada sees the notice and a shorter list.
  await say(bob.page, "/quit");
  await bob.page.waitForFunction(() => document.getElementById("status").textContent.startsWith("disconnected (1000"));
  await waitForNotice(ada.page, "bob left");
  await waitForUsers(ada.page, ["ada"]);

  await ada.context.close();
  await bob.context.close();
});

const echoBin = process.env.ECHO_BIN ?? join(targetDir, "release/examples/echo");

/** What the page does against examples/echo, inside Chromium. */
async function exchangeInBrowser({ url, sizes, limit }) {
  const open = (binaryType) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = binaryType;
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error("the WebSocket did not open"));
    });
  const next = (ws) =>
    new Promise((resolve, reject) => {
      ws.onmessage = (event) => resolve(event.data);
      ws.onclose = (event) => reject(new Error(`closed ${event.code} while waiting`));
    });
  const closed = (ws) => new Promise((resolve) => (ws.onclose = (event) => resolve(event.code)));
  const textOf = (bytes) => {
    // Multi-byte UTF-8 repeated, padded with ASCII to exactly `bytes` bytes.
    const unit = "κόσμε ✓ ";
    const unitBytes = new TextEncoder().encode(unit).length;
    const text = unit.repeat(Math.floor(bytes / unitBytes));
    return text + "x".repeat(bytes - new TextEncoder().encode(text).length);
  };
  const ws = await open("arraybuffer");
  const report = { extensions: ws.extensions, echoed: [] };
  for (const size of sizes) {
    const text = textOf(size);
    ws.send(text);
    if ((await next(ws)) !== text) throw new Error(`text of ${size} bytes came back different`);
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 31) % 251;
    ws.send(bytes);
    const echo = new Uint8Array(await next(ws));
    if (echo.length !== size || echo.some((b, i) => b !== bytes[i])) {
      throw new Error(`binary of ${size} bytes came back different`);
    }
    report.echoed.push(size);
  }
  // The client closes: the server echoes its code.
  const clientClose = closed(ws);
  ws.close(4000, "chromium says bye");
  report.clientCloseCode = await clientClose;
  // The server closes: one byte over the echo's limit.
  const big = await open("arraybuffer");
  const serverClose = closed(big);
  big.send(new Uint8Array(limit + 1));
  report.serverCloseCode = await serverClose;
  return report;
}

test("echo: Chromium exchanges 0 B to 16 MiB with examples/echo", { timeout: 180_000 }, async (t) => {
  const started = await serverAndChromium(t, echoBin, /echo: (ws:\/\/[0-9.:]+\/)/, "the echo server");
  if (!started) return;
  const { address: url, browser } = started;
  const context = browser.contexts()[0] ?? (await browser.newContext());
  const page = await context.newPage();

  const sizes = [0, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
  const report = await page.evaluate(exchangeInBrowser, { url: `${url}echo`, sizes, limit: 16 << 20 });
  console.log(`Chromium echo: ${JSON.stringify(report)}`);
  assert.deepEqual(report.echoed, sizes);
  assert.match(report.extensions, /^permessage-deflate/, "Chromium negotiated compression with the echo");
  assert.equal(report.clientCloseCode, 4000, "the server echoes the client's close code");
  assert.equal(report.serverCloseCode, 1009, "the server closes a message over its limit with 1009");
});
