// hello-node: an Airlock plugin with no SDK, following docs/PROTOCOL.md.
// Messages are JSON objects, one per line, on stdin (from the host) and
// stdout (to the host); stderr is the log.
"use strict";
const readline = require("node:readline");

const NAME = "hello-node";
const VERSION = "0.1.0";
let config = {};
let nextId = 0;
const waiting = new Map(); // our request id -> resolve function

// Keep stdout for the protocol: console.log would corrupt it.
const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
console.log = console.error;

// Call a host function and wait for its answer.
function callHost(method, params) {
  const id = "n" + ++nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, (resp) => (resp.error ? reject(new Error(resp.error.message)) : resolve(resp.result)));
    send({ jsonrpc: "2.0", id, method, params });
  });
}

const handlers = {
  async greet(input) {
    const name = String((input && input.name) || "").trim();
    if (!name) throw new Error("greet: name is empty");
    await callHost("log", { level: "info", msg: "greeting someone", attrs: { name } });
    return { message: `${config.greeting || "hello"}, ${name}` };
  },
};

async function onCall(id, params) {
  const fn = handlers[params.name];
  if (!fn) return send({ jsonrpc: "2.0", id, error: { code: -32004, message: `no ${params.name} here` } });
  try {
    send({ jsonrpc: "2.0", id, result: (await fn(params.input)) ?? null });
  } catch (e) {
    send({ jsonrpc: "2.0", id, error: { code: -32000, message: e.message } });
  }
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.method === undefined) {
    const resolve = waiting.get(msg.id); // an answer to one of our calls
    waiting.delete(msg.id);
    if (resolve) resolve(msg);
  } else if (msg.method === "initialize") {
    config = msg.params.config || {};
    send({ jsonrpc: "2.0", id: msg.id, result: { protocol: 1, name: NAME, version: VERSION, hooks: Object.keys(handlers) } });
  } else if (msg.method === "call") {
    onCall(msg.id, msg.params);
  } else if (msg.method === "shutdown") {
    send({ jsonrpc: "2.0", id: msg.id, result: null });
  } else if (msg.id !== undefined && msg.method !== "$/cancel") {
    send({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: `unknown method ${msg.method}` } });
  }
});
input.on("close", () => process.exit(0)); // end of input: the host is done with us
