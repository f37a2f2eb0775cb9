// interp-node: the protocol by hand (docs/PROTOCOL.md), no packages.
"use strict";
const readline = require("node:readline");

const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.method === "initialize") {
    send({ jsonrpc: "2.0", id: msg.id, result: { protocol: 1, name: "interp-node", version: "0.1.0", hooks: ["greet"] } });
  } else if (msg.method === "call") {
    send({ jsonrpc: "2.0", id: msg.id, result: { lang: "node", input: msg.params.input } });
  } else if (msg.method === "shutdown") {
    send({ jsonrpc: "2.0", id: msg.id, result: null });
  }
});
input.on("close", () => process.exit(0));
