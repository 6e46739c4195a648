#!/usr/bin/env node
// TCP ends for tests and benches that run inside network namespaces (plain JavaScript, so a
// child started with `ip netns exec node` needs no TypeScript loader). Each mode prints one JSON
// line on stdout when it has something to say.
//
//   sink HOST PORT                 accept one connection, count its bytes until it ends, answer "ok",
//                                  print {"listening":PORT} first and {"received":N,"seconds":S} at the end
//   send HOST PORT BYTES           send BYTES bytes in 1 MiB writes, wait for the answer, print {"sent":N,"seconds":S}
//   echo HOST PORT                 echo every byte back, for every connection; print {"listening":PORT}
//   pingpong HOST PORT COUNT       send 1 byte, wait for it back, COUNT times; print {"rtts":[ms, …]}
"use strict";
const net = require("node:net");

const [mode, host, portText, arg] = process.argv.slice(2);
const port = Number(portText);
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (mode === "sink") {
  const server = net.createServer((socket) => {
    let received = 0;
    let first;
    socket.on("data", (d) => {
      first ??= performance.now();
      received += d.length;
    });
    socket.on("end", () => {
      const seconds = first === undefined ? 0 : (performance.now() - first) / 1000;
      socket.end("ok", () => {
        print({ received, seconds });
        server.close();
      });
    });
  });
  server.listen(port, host, () => print({ listening: server.address().port }));
} else if (mode === "send") {
  const total = Number(arg);
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  const socket = net.connect({ host, port }, () => {
    const start = performance.now();
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void socket.once("drain", pump);
      }
      socket.end();
    };
    socket.on("data", () => undefined);
    socket.on("end", () => print({ sent, seconds: (performance.now() - start) / 1000 }));
    pump();
  });
} else if (mode === "echo") {
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => socket.pipe(socket));
  server.listen(port, host, () => print({ listening: server.address().port }));
  process.once("SIGTERM", () => process.exit(0));
} else if (mode === "pingpong") {
  const count = Number(arg);
  const rtts = [];
  const socket = net.connect({ host, port, noDelay: true }, () => {
    let start = performance.now();
    socket.on("data", () => {
      rtts.push(performance.now() - start);
      if (rtts.length === count) {
        print({ rtts });
        socket.end();
        return;
      }
      start = performance.now();
      socket.write("x");
    });
    socket.write("x");
  });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
