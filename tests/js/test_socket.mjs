// Unit tests of channels_core/static/channels_core/socket.js under Node's own test runner:
//   node --test tests/js/
// A fake WebSocket, document and location stand in for the browser, and an EventTarget
// for the window (its pagehide and pageshow events); node:test's mock timers stand in
// for the clock, and Math.random is pinned where delays are checked.

import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { ChannelsSocket } = require("../../channels_core/static/channels_core/socket.js");

/** A WebSocket the test drives: open(), receive(), drop(code) play the server's part. */
class FakeWebSocket {
  static instances = [];

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.instances.push(this);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }

  close(code = 1000, reason = "") {
    this.closedWith = code;
    this._fireClose(code, reason);
  }

  open() {
    this.readyState = 1;
    this.onopen?.({ type: "open" });
  }

  receive(data) {
    this.onmessage?.({ type: "message", data });
  }

  drop(code = 1006) {
    this._fireClose(code, "");
  }

  _fireClose(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ type: "close", code, reason, wasClean: code !== 1006 });
  }
}

const latest = () => FakeWebSocket.instances.at(-1);

function fakeElement() {
  return { dataset: {}, textContent: "" };
}

let body;
let indicator;
let page; // the window: pagehide and pageshow are dispatched on it
let timers; // the current test's mock timers: tick(ms) moves the clock
const tick = (ms) => timers.tick(ms);

beforeEach((t) => {
  FakeWebSocket.instances = [];
  body = fakeElement();
  indicator = fakeElement();
  globalThis.WebSocket = FakeWebSocket;
  page = new EventTarget();
  globalThis.window = page;
  globalThis.location = { href: "http://localhost:8000/liveblog/x/", protocol: "http:" };
  globalThis.document = {
    body,
    querySelectorAll: (selector) => (selector === "[data-socket-indicator]" ? [indicator] : []),
  };
  timers = t.mock.timers;
  timers.enable({ apis: ["setTimeout"] });
});

afterEach(() => {
  delete globalThis.WebSocket;
  delete globalThis.window;
  delete globalThis.location;
  delete globalThis.document;
});

/** Fire a page lifecycle event ("pagehide" or "pageshow") on the window, as the browser does. */
function pageEvent(type, persisted) {
  page.dispatchEvent(Object.assign(new Event(type), { persisted }));
}

/** A socket with recorded callbacks; `events` lists what the page was told, in order. */
function connect(url = "/ws/liveblog/x/stream/", options = {}) {
  const events = [];
  const socket = new ChannelsSocket(url, {
    onMessage: (data) => events.push(["message", data]),
    onOpen: () => events.push(["open"]),
    onClose: (event, info) => events.push(["close", event?.code, info]),
    onReconnect: () => events.push(["reconnect"]),
    ...options,
  });
  return { socket, events };
}

describe("address", () => {
  test("a path is resolved against the page, ws for http", () => {
    connect("/ws/liveblog/x/stream/");
    assert.equal(latest().url, "ws://localhost:8000/ws/liveblog/x/stream/");
  });

  test("wss on an https page", () => {
    globalThis.location = { href: "https://example.com/chat/", protocol: "https:" };
    connect("/ws/chat/lobby/");
    assert.equal(latest().url, "wss://example.com/ws/chat/lobby/");
  });

  test("an absolute URL is kept, protocols are passed on", () => {
    connect("ws://127.0.0.1:8001/chat/lobby/", { protocols: ["json"] });
    assert.equal(latest().url, "ws://127.0.0.1:8001/chat/lobby/");
    assert.deepEqual(latest().protocols, ["json"]);
  });
});

describe("state", () => {
  test("connecting, open, connecting after a drop, closed after close()", () => {
    const { socket } = connect();
    assert.equal(socket.state, "connecting");
    assert.equal(body.dataset.socketState, "connecting");
    assert.equal(indicator.textContent, "connecting…");

    latest().open();
    assert.equal(socket.state, "open");
    assert.equal(body.dataset.socketState, "open");
    assert.equal(indicator.dataset.socketState, "open");
    assert.equal(indicator.textContent, "live");

    latest().drop(1006);
    assert.equal(socket.state, "connecting");
    assert.equal(body.dataset.socketState, "connecting");

    socket.close();
    assert.equal(socket.state, "closed");
    assert.equal(body.dataset.socketState, "closed");
    assert.equal(indicator.textContent, "offline");
  });

  test("stateElement receives the state instead of <body>", () => {
    const element = fakeElement();
    connect("/ws/chat/", { stateElement: element });
    latest().open();
    assert.equal(element.dataset.socketState, "open");
    assert.equal(body.dataset.socketState, undefined);
  });

  test("works without a document (no indicator, no body)", () => {
    delete globalThis.document;
    const { socket } = connect();
    latest().open();
    assert.equal(socket.state, "open");
  });
});

describe("messages", () => {
  test("JSON text is parsed, other text is given as is, binary as ArrayBuffer", () => {
    const { events } = connect();
    latest().open();
    const buffer = new ArrayBuffer(4);
    latest().receive('{"id": 1, "content": "x"}');
    latest().receive("not json {");
    latest().receive(buffer);
    assert.deepEqual(events.slice(1), [
      ["message", { id: 1, content: "x" }],
      ["message", "not json {"],
      ["message", buffer],
    ]);
    assert.equal(latest().binaryType, "arraybuffer");
  });

  test("send() writes JSON when open", () => {
    const { socket } = connect();
    latest().open();
    assert.equal(socket.send({ text: "hi" }), true);
    assert.deepEqual(latest().sent, ['{"text":"hi"}']);
  });

  test("sends while not open are queued and flushed, in order, on open", () => {
    const { socket, events } = connect();
    assert.equal(socket.send({ n: 1 }), false);
    socket.send({ n: 2 });
    assert.deepEqual(latest().sent, []);
    latest().open();
    assert.deepEqual(latest().sent, ['{"n":1}', '{"n":2}']);
    assert.deepEqual(events, [["open"]]);
  });

  test("the queue is bounded; the oldest messages are dropped", () => {
    const { socket } = connect("/ws/x/", { queueLimit: 100 });
    for (let n = 0; n < 105; n += 1) socket.send({ n });
    latest().open();
    assert.equal(latest().sent.length, 100);
    assert.equal(latest().sent[0], '{"n":5}');
    assert.equal(latest().sent.at(-1), '{"n":104}');
  });

  test("messages queued during a drop go out on the new connection", () => {
    const { socket } = connect();
    latest().open();
    latest().drop();
    socket.send({ after: "drop" });
    const first = latest();
    assert.equal(first.sent.length, 0);
    // Math.random() < 1, so the first retry comes before backoffBase (500 ms).
    tick(500);
    assert.notEqual(latest(), first);
    latest().open();
    assert.deepEqual(latest().sent, ['{"after":"drop"}']);
  });
});

describe("reconnection", () => {
  test("delays grow exponentially to the cap, with full jitter", (t) => {
    let random = 0.999;
    t.mock.method(Math, "random", () => random);
    const { events } = connect("/ws/x/", { backoffBase: 500, backoffCap: 15000 });
    const ceilings = [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000];
    for (const ceiling of ceilings) {
      const expected = Math.floor(0.999 * ceiling);
      const before = FakeWebSocket.instances.length;
      latest().drop(); // never opened: each attempt fails, the backoff keeps growing
      assert.deepEqual(events.at(-1), ["close", 1006, { final: false, delay: expected }]);
      tick(expected - 1);
      assert.equal(FakeWebSocket.instances.length, before, `no retry before ${expected} ms`);
      tick(1);
      assert.equal(FakeWebSocket.instances.length, before + 1, `a retry at ${expected} ms`);
    }
    // Jitter: the delay is random() times the ceiling, anywhere from 0 up.
    for (random of [0, 0.25, 0.5]) {
      latest().drop();
      const { delay } = events.at(-1)[2];
      assert.equal(delay, Math.floor(random * 15000));
      assert.ok(delay >= 0 && delay < 15000);
      tick(delay);
    }
  });

  test("real Math.random keeps every delay within [0, ceiling)", () => {
    const { events } = connect("/ws/x/", { backoffBase: 500, backoffCap: 15000 });
    for (let attempt = 0; attempt < 12; attempt += 1) {
      latest().drop();
      const { delay } = events.at(-1)[2];
      const ceiling = Math.min(15000, 500 * 2 ** attempt);
      assert.ok(Number.isInteger(delay) && delay >= 0 && delay < ceiling, `attempt ${attempt}: ${delay}`);
      tick(ceiling);
    }
  });

  test("a connection that stays open resets the backoff; a brief one does not", (t) => {
    t.mock.method(Math, "random", () => 0.999);
    const { events } = connect("/ws/x/", { stableAfter: 5000 });
    latest().drop(); // attempt 0: up to 500
    tick(499);
    latest().drop(); // attempt 1: up to 1000
    tick(999);
    latest().open();
    tick(4999); // opened, but not long enough to count as healthy
    latest().drop();
    assert.equal(events.at(-1)[2].delay, 1998); // attempt 2: up to 2000
    tick(1998);
    latest().open();
    tick(5000); // healthy now
    latest().drop();
    assert.equal(events.at(-1)[2].delay, 499); // back to attempt 0
  });

  test("onReconnect is called on re-connections only, after onOpen", () => {
    const { events } = connect();
    latest().drop(); // the first attempt failing is not a re-connection
    tick(500);
    latest().open();
    assert.deepEqual(
      events.filter(([kind]) => kind !== "close"),
      [["open"]],
    );
    latest().drop();
    tick(1000);
    latest().open();
    assert.deepEqual(
      events.filter(([kind]) => kind !== "close"),
      [["open"], ["open"], ["reconnect"]],
    );
  });

  test("no reconnection after close()", () => {
    const { socket, events } = connect();
    latest().open();
    socket.close();
    assert.equal(latest().closedWith, 1000);
    assert.deepEqual(events.at(-1), ["close", 1000, { final: true }]);
    tick(60000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.state, "closed");
    assert.equal(socket.send({ late: true }), false);
  });

  test("close() during a backoff wait cancels the retry", () => {
    const { socket } = connect();
    latest().drop();
    socket.close();
    tick(60000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.state, "closed");
  });

  for (const code of [1008, 4000, 4403, 4999]) {
    test(`no reconnection after the server closes with ${code}`, () => {
      const { socket, events } = connect();
      latest().open();
      socket.send({ queued: false });
      latest().drop(code);
      assert.deepEqual(events.at(-1), ["close", code, { final: true }]);
      assert.equal(socket.state, "closed");
      assert.equal(body.dataset.socketState, "closed");
      tick(60000);
      assert.equal(FakeWebSocket.instances.length, 1);
    });
  }

  for (const code of [1000, 1001, 1006, 1011, 3999, 5000]) {
    test(`reconnection after the server closes with ${code}`, () => {
      const { socket } = connect();
      latest().open();
      latest().drop(code);
      assert.equal(socket.state, "connecting");
      tick(500);
      assert.equal(FakeWebSocket.instances.length, 2);
    });
  }

  test("the set of final codes is configurable", () => {
    const { socket } = connect("/ws/x/", { finalCodes: [1000, [4100, 4199]] });
    assert.equal(socket.isFinalCode(1000), true);
    assert.equal(socket.isFinalCode(4150), true);
    assert.equal(socket.isFinalCode(4000), false);
    assert.equal(socket.isFinalCode(1008), false);
    latest().open();
    latest().drop(1000);
    assert.equal(socket.state, "closed");
  });

  test("onClose may call close() to stop retrying", () => {
    const socket = new ChannelsSocket("/ws/x/", { onClose: () => socket.close() });
    latest().open();
    latest().drop(1006);
    tick(60000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.state, "closed");
  });
});

describe("logging", () => {
  test("silent by default, console.debug with debug: true", (t) => {
    const debug = t.mock.method(console, "debug", () => {});
    const log = t.mock.method(console, "log", () => {});
    connect();
    latest().open();
    latest().drop();
    assert.equal(debug.mock.callCount(), 0);
    connect("/ws/y/", { debug: true });
    assert.ok(debug.mock.callCount() > 0);
    assert.equal(log.mock.callCount(), 0);
  });
});

describe("back/forward cache", () => {
  for (const persisted of [true, false]) {
    test(`pagehide (persisted: ${persisted}) closes the socket normally, with no retry`, () => {
      const { socket, events } = connect();
      latest().open();
      pageEvent("pagehide", persisted);
      assert.equal(latest().closedWith, 1000);
      assert.equal(socket.state, "closed");
      assert.equal(body.dataset.socketState, "closed");
      assert.deepEqual(events.at(-1), ["close", undefined, { final: false, suspended: true }]);
      tick(60000);
      assert.equal(FakeWebSocket.instances.length, 1, "no reconnection while the page is hidden");
    });
  }

  test("pageshow from the cache reconnects at once, and the page catches up in onReconnect", () => {
    const { socket, events } = connect();
    latest().open();
    pageEvent("pagehide", true);
    const hidden = latest();
    pageEvent("pageshow", true);
    assert.notEqual(latest(), hidden, "a new socket, without waiting for a backoff");
    assert.equal(socket.state, "connecting");
    latest().open();
    assert.equal(socket.state, "open");
    assert.equal(body.dataset.socketState, "open");
    assert.deepEqual(events.slice(-2), [["open"], ["reconnect"]]);
  });

  test("the hidden socket's late close event changes nothing", () => {
    const { socket, events } = connect();
    latest().open();
    const hidden = latest();
    hidden.close = function (code) {
      this.closedWith = code; // a browser fires the close event later, not in close()
    };
    pageEvent("pagehide", true);
    pageEvent("pageshow", true);
    const count = events.length;
    hidden.drop(1000);
    assert.equal(events.length, count);
    assert.equal(socket.state, "connecting");
    tick(60000);
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  test("messages sent while hidden go out on the new connection", () => {
    const { socket } = connect();
    latest().open();
    pageEvent("pagehide", true);
    assert.equal(socket.send({ while: "hidden" }), false);
    pageEvent("pageshow", true);
    latest().open();
    assert.deepEqual(latest().sent, ['{"while":"hidden"}']);
  });

  test("pagehide during a backoff wait cancels the retry; pageshow connects", () => {
    const { socket } = connect();
    latest().open();
    latest().drop();
    pageEvent("pagehide", true);
    tick(60000);
    assert.equal(FakeWebSocket.instances.length, 1);
    pageEvent("pageshow", true);
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(socket.state, "connecting");
  });

  test("a socket still connecting is closed too", () => {
    const { socket } = connect();
    pageEvent("pagehide", true);
    assert.equal(latest().closedWith, 1000);
    assert.equal(socket.state, "closed");
  });

  test("the first pageshow of a page (not from the cache) opens no second socket", () => {
    connect();
    pageEvent("pageshow", false);
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  test("the backoff is not reset by a trip through the cache", (t) => {
    t.mock.method(Math, "random", () => 0.999);
    const { events } = connect("/ws/x/", { stableAfter: 5000 });
    latest().drop(); // attempt 0
    tick(499);
    pageEvent("pagehide", true);
    pageEvent("pageshow", true);
    latest().drop();
    assert.equal(events.at(-1)[2].delay, 999, "attempt 1: up to 1000");
  });

  test("after close() for good, the page's events do nothing and the listeners are gone", (t) => {
    const removed = t.mock.method(page, "removeEventListener");
    const { socket } = connect();
    latest().open();
    socket.close();
    assert.deepEqual(removed.mock.calls.map((call) => call.arguments[0]).sort(), ["pagehide", "pageshow"]);
    pageEvent("pagehide", true);
    pageEvent("pageshow", true);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.state, "closed");
  });

  test("a final close code stops listening to the page too", () => {
    const { socket } = connect();
    latest().open();
    latest().drop(4003);
    pageEvent("pagehide", true);
    pageEvent("pageshow", true);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.state, "closed");
  });

  test("works without a window", () => {
    delete globalThis.window;
    const { socket } = connect();
    latest().open();
    assert.equal(socket.state, "open");
  });
});

describe("recovery", () => {
  const at = (offset, epoch = "e1", group = "liveblog-x") => ({ group, epoch, offset });
  /** The positions the socket's URL carries in its "since" parameter, or null without one. */
  const sentSince = (ws = latest()) => {
    const since = new URL(ws.url).searchParams.get("since");
    return since === null ? null : JSON.parse(since);
  };
  const recovery = (recovered, groups = {}) => JSON.stringify({ recovery: { recovered, groups } });

  test("without positions, the URL has no since and onReconnect says not recovered at open", () => {
    const calls = [];
    connect("/ws/x/?a=1", { onReconnect: (result) => calls.push(result) });
    latest().open();
    latest().receive(JSON.stringify({ id: 1, position: at(3) }));
    latest().drop();
    tick(500);
    assert.equal(latest().url, "ws://localhost:8000/ws/x/?a=1");
    latest().open();
    assert.deepEqual(calls, [{ recovered: false, groups: {} }]);
  });

  test("seeded positions go in the URL as JSON {group: position}, other parameters kept", () => {
    const { socket } = connect("/ws/x/?a=1", { positions: [at(7), at(2, "e9", "chat-lobby")] });
    const url = new URL(latest().url);
    assert.equal(url.searchParams.get("a"), "1");
    assert.deepEqual(sentSince(), { "liveblog-x": at(7), "chat-lobby": at(2, "e9", "chat-lobby") });
    assert.deepEqual(socket.positions, [at(7), at(2, "e9", "chat-lobby")]);
  });

  test("positions: [] asks for recovery with nothing known yet", () => {
    connect("/ws/x/", { positions: [] });
    assert.deepEqual(sentSince(), {});
  });

  test("the latest position of each group is kept from the messages and sent on reconnection", () => {
    const { socket, events } = connect("/ws/x/", { positions: [at(1)] });
    latest().open();
    for (const offset of [2, 4, 3]) latest().receive(JSON.stringify({ n: offset, position: at(offset) }));
    latest().receive(JSON.stringify({ n: 1, position: at(1, "e1", "chat-lobby") }));
    latest().receive(JSON.stringify({ no: "position" }));
    assert.deepEqual(socket.positions, [at(4), at(1, "e1", "chat-lobby")], "the highest offset per group");
    assert.equal(events.filter(([kind]) => kind === "message").length, 5, "every message still reaches the page");
    latest().drop();
    tick(500);
    assert.deepEqual(sentSince(), { "liveblog-x": at(4), "chat-lobby": at(1, "e1", "chat-lobby") });
  });

  test("a message of another epoch replaces the group's position, whatever its offset", () => {
    const { socket } = connect("/ws/x/", { positions: [at(40)] });
    latest().open();
    latest().receive(JSON.stringify({ position: at(1, "e2") }));
    assert.deepEqual(socket.positions, [at(1, "e2")]);
  });

  test("malformed positions are ignored, seeded or received", () => {
    const bad = [null, "x", at(-1), at(1.5), { group: "g", epoch: 3, offset: 1 }, { epoch: "e", offset: 1 }];
    const { socket } = connect("/ws/x/", { positions: [...bad, at(5)] });
    latest().open();
    for (const position of bad) latest().receive(JSON.stringify({ position }));
    assert.deepEqual(socket.positions, [at(5)]);
  });

  test("a page that throws on a message does not move past it", () => {
    const socket = new ChannelsSocket("/ws/x/", {
      positions: [at(1)],
      onMessage() {
        throw new Error("the page failed");
      },
    });
    latest().open();
    assert.throws(() => latest().receive(JSON.stringify({ position: at(2) })), /the page failed/);
    assert.deepEqual(socket.positions, [at(1)]);
  });

  test("the server's recovery frame calls onReconnect, on the first connection too, and is not a message", () => {
    const { events } = connect("/ws/x/", { positions: [at(1)], onReconnect: (result) => events.push(["reconnect", result]) });
    latest().open();
    assert.deepEqual(events, [["open"]], "not at open: the server's answer decides");
    const groups = { "liveblog-x": { recovered: true, replayed: 2 } };
    latest().receive(JSON.stringify({ position: at(2) }));
    latest().receive(JSON.stringify({ position: at(3) }));
    latest().receive(recovery(true, groups));
    assert.deepEqual(events.slice(1), [
      ["message", { position: at(2) }],
      ["message", { position: at(3) }],
      ["reconnect", { recovered: true, groups }],
    ]);
    latest().drop();
    tick(500);
    latest().open();
    latest().receive(recovery(false, {}));
    assert.deepEqual(events.at(-1), ["reconnect", { recovered: false, groups: {} }]);
    assert.equal(events.filter(([kind]) => kind === "reconnect").length, 2);
  });

  test("only recovered: true counts as recovered", () => {
    const results = [];
    connect("/ws/x/", { positions: [], onReconnect: (result) => results.push(result.recovered) });
    latest().open();
    for (const value of ['"yes"', "1", "null", "true"]) latest().receive(`{"recovery": {"recovered": ${value}}}`);
    assert.deepEqual(results, [false, false, false, true]);
  });

  test("a group not recovered comes with its current position, which the next connection sends", () => {
    const { socket } = connect("/ws/x/", { positions: [at(9, "old")] });
    latest().open();
    latest().receive(recovery(false, { "liveblog-x": { recovered: false, replayed: 0, position: at(4, "new") } }));
    assert.deepEqual(socket.positions, [at(4, "new")]);
    latest().drop();
    tick(500);
    assert.deepEqual(sentSince(), { "liveblog-x": at(4, "new") });
  });

  test("without positions, a recovery frame is an ordinary message", () => {
    const { events } = connect("/ws/x/");
    latest().open();
    latest().receive(recovery(true));
    assert.deepEqual(events.at(-1), ["message", { recovery: { recovered: true, groups: {} } }]);
  });

  test("a page restored from the back/forward cache sends its positions again", () => {
    connect("/ws/x/", { positions: [at(1)] });
    latest().open();
    latest().receive(JSON.stringify({ position: at(6) }));
    pageEvent("pagehide", true);
    pageEvent("pageshow", true);
    assert.deepEqual(sentSince(), { "liveblog-x": at(6) });
  });
});
