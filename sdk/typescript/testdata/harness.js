// A test harness playing the host: it starts a plugin as a child process
// and speaks the protocol to it over pipes, one line per message.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const conformance = fileURLToPath(new URL("./conformance.mjs", import.meta.url));

/** A plugin process and the host's end of its pipes. */
export class Peer {
  /**
   * @param {string[]} args the conformance plugin's options
   * @param {string} [script]
   */
  constructor(args = [], script = conformance) {
    this.child = spawn(process.execPath, [script, ...args], { stdio: ["pipe", "pipe", "pipe"], env: {} });
    this.messages = [];
    this.waiters = [];
    this.stderr = "";
    this.stdoutText = "";
    let buf = "";
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (s) => {
      this.stdoutText += s;
      buf += s;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          msg = { notJSON: line };
        }
        this.messages.push(msg);
        this.#wake();
      }
    });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s) => (this.stderr += s));
    this.child.stdin.on("error", () => {}); // the plugin may exit first
    // "close": the process has exited and its output has all been read.
    this.exited = new Promise((resolve) => this.child.on("close", (code, signal) => resolve({ code, signal })));
    this.nextId = 1;
  }

  #wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until the plugin's standard error matches re (it is read apart from standard output). */
  async stderrMatching(re, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.stderr)) {
      if (Date.now() > deadline) throw new Error(`standard error does not match ${re} within ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.stderr;
  }

  /** Writes raw text to the plugin's standard input. */
  write(text) {
    this.child.stdin.write(text);
  }

  /** Sends one message. */
  send(msg) {
    this.write(JSON.stringify(msg) + "\n");
  }

  /** Sends a request with a fresh id and returns the id. */
  request(method, params) {
    const id = this.nextId++;
    this.send({ jsonrpc: "2.0", id, method, params });
    return id;
  }

  /** The next message that pred accepts (removed from the queue). */
  async next(pred = () => true, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms; have ${JSON.stringify(this.messages)}; stderr:\n${this.stderr}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The answer to request id. */
  answer(id, timeoutMs) {
    return this.next((m) => m.id === id && m.method === undefined, timeoutMs);
  }

  /** The next request the plugin makes to the host. */
  hostRequest(method, timeoutMs) {
    return this.next((m) => m.method !== undefined && (method === undefined || m.method === method), timeoutMs);
  }

  /** Sends a request and waits for its answer. */
  async roundTrip(method, params, timeoutMs) {
    return this.answer(this.request(method, params), timeoutMs);
  }

  /** The handshake, with settings and grants. */
  async initialize({ config = { greeting: "hello" }, grants = ["log"], functions = ["log"], protocols = [1] } = {}) {
    return this.roundTrip("initialize", { protocols, plugin: "conformance", config, grants, functions });
  }

  /** Calls a hook or function. */
  call(name, input, extra = {}) {
    return this.request("call", { name, input, ...extra });
  }

  /** Closes the plugin's standard input and waits for it to exit. */
  async close() {
    this.child.stdin.end();
    return this.exited;
  }

  kill() {
    this.child.kill("SIGKILL");
  }
}
