/*
 * ChannelsSocket: the one browser client every demo uses. No dependencies, no build step.
 *
 *   <script src="{% static 'channels_core/socket.js' %}"></script>
 *   const socket = new ChannelsSocket("{% websocket_url 'chat/lobby/' %}", {
 *     onMessage(data) { ... },        // parsed JSON, else the text, or an ArrayBuffer
 *     onReconnect({ recovered }) { ... },  // back after a drop: fetch what was missed, unless recovered
 *     positions: [position],          // optional: recover missed messages of groups with history
 *   });
 *   socket.send({text: "hello"});     // JSON; queued while the socket is not open
 *
 * What it does for the page:
 * - JSON both ways (the server sends one JSON object per text frame).
 * - Reconnects after a drop with capped exponential backoff and full jitter, so a
 *   restarted server is not hit by every browser at the same instant.
 * - Stops for good after close(), or when the server closes with a code that says
 *   "do not come back" (1008 policy violation, 4000-4999 application codes).
 * - Closes its socket (code 1000) when the page is hidden by navigating away
 *   ("pagehide"), so a page kept in the back/forward cache holds no connection and
 *   the server sees its visitor leave at once; opens a new one when the page is
 *   shown again from that cache ("pageshow" with event.persisted), and onReconnect
 *   runs as after any reconnection.
 * - Recovers what a drop made it miss, with the server's help, when the page asks for it
 *   (options.positions, an array: the positions rendered into the page, or []). It keeps
 *   the latest "position" ({group, epoch, offset}) that messages of each group carried
 *   and sends them all in the socket URL's "since" parameter on every connection, as
 *   JSON {group: position}. The server adds the socket to its groups from there and
 *   answers with one frame, {"recovery": {"recovered": bool, "groups": {...}}}, that
 *   is not passed to onMessage: onReconnect gets it instead, for every connection (the
 *   first included, as the page's rendered data may be behind too). When recovered is
 *   true, every message missed has been replayed in order, before the frame; when
 *   false, the page must fetch its data again. Without options.positions, onReconnect
 *   runs when a re-connection opens, with {recovered: false, groups: {}}.
 * - Publishes its state ("connecting", "open", "closed") as data-socket-state on
 *   <body> (or on options.stateElement) for CSS and end-to-end tests, and as text
 *   in any element marked data-socket-indicator. The page sets aria-live on it.
 */
(function (root) {
  "use strict";

  const OPEN = 1; // WebSocket.OPEN, written out so any WebSocket-like object works

  const DEFAULTS = {
    onMessage() {},
    onOpen() {},
    onClose() {},
    onReconnect() {},
    stateElement: null, // default: document.body
    protocols: undefined,
    backoffBase: 500, // ms; the first retry waits up to this long
    backoffCap: 15000, // ms; no retry waits longer
    stableAfter: 5000, // ms open before a connection counts as healthy (resets the backoff)
    queueLimit: 100, // messages kept while not open; the oldest are dropped beyond this
    // Close codes after which the page must not reconnect: a code, or an inclusive [low, high] range.
    finalCodes: [1008, [4000, 4999]],
    labels: { connecting: "connecting…", open: "live", closed: "offline" },
    // Positions to recover from ([] for none yet), or null: no recovery (see above).
    positions: null,
    debug: false,
  };

  /** The socket URL's query parameter that carries the positions, as JSON {group: position}. */
  const SINCE_PARAMETER = "since";
  /** The key of the server's one frame that answers the positions. */
  const RECOVERY_KEY = "recovery";

  /** Whether value is a position as messages carry it: {group, epoch, offset}. */
  function isPosition(value) {
    return (
      isObject(value) &&
      typeof value.group === "string" &&
      typeof value.epoch === "string" &&
      Number.isSafeInteger(value.offset) &&
      value.offset >= 0
    );
  }

  function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
  }

  /** Resolve a path such as "/ws/chat/" against the page, with ws: or wss: to match http: or https:. */
  function resolveUrl(url) {
    const base = typeof location !== "undefined" ? location.href : undefined;
    const resolved = new URL(url, base);
    if (resolved.protocol === "http:") resolved.protocol = "ws:";
    else if (resolved.protocol === "https:") resolved.protocol = "wss:";
    return resolved.href;
  }

  class ChannelsSocket {
    constructor(url, options = {}) {
      this.url = resolveUrl(url);
      this.options = { ...DEFAULTS, ...options, labels: { ...DEFAULTS.labels, ...options.labels } };
      this.state = "connecting";
      this._ws = null;
      this._queue = [];
      this._attempt = 0; // failed attempts since the last healthy connection
      this._everOpened = false;
      this._stopped = false;
      this._suspended = false; // closed by pagehide, until pageshow
      this._listening = false; // to the page's pagehide and pageshow
      this._retryTimer = null;
      this._stableTimer = null;
      this._recovering = Array.isArray(this.options.positions);
      this._positions = new Map(); // group -> the latest position seen in it
      for (const position of this.options.positions || []) this._track(position);
      this._onPageHide = () => this._suspend();
      this._onPageShow = () => this._resume();
      this._listenToPage(true);
      this._connect();
    }

    /** Send obj as JSON now, or queue it until the socket opens. Returns true if it went out now. */
    send(obj) {
      const text = JSON.stringify(obj);
      if (this._ws && this._ws.readyState === OPEN) {
        this._ws.send(text);
        return true;
      }
      if (this._stopped) {
        this._log("closed for good; message dropped", obj);
        return false;
      }
      this._queue.push(text);
      if (this._queue.length > this.options.queueLimit) {
        this._queue.shift();
        this._log("queue full; dropped the oldest message");
      }
      return false;
    }

    /** Close for good: no reconnection, queued messages are discarded. */
    close(code = 1000, reason = "") {
      this._stopped = true;
      this._queue = [];
      this._clearTimers();
      this._listenToPage(false);
      if (this._ws) this._ws.close(code, reason);
      this._setState("closed");
    }

    /** The latest position of each group, as the next connection will send them (copies). */
    get positions() {
      return Array.from(this._positions.values(), (position) => ({ ...position }));
    }

    /** True if the server's close code means "do not reconnect". */
    isFinalCode(code) {
      return this.options.finalCodes.some((entry) =>
        Array.isArray(entry) ? code >= entry[0] && code <= entry[1] : code === entry,
      );
    }

    _connect() {
      this._retryTimer = null;
      this._setState("connecting");
      const url = this._connectUrl();
      this._log("connecting to", url);
      let ws;
      try {
        ws = new WebSocket(url, this.options.protocols);
      } catch (error) {
        // A malformed URL or a forbidden port: retrying would fail the same way.
        this._log("cannot connect:", error);
        this._stopped = true;
        this._listenToPage(false);
        this._setState("closed");
        this.options.onClose(null, { final: true, error });
        return;
      }
      ws.binaryType = "arraybuffer";
      // Each handler ignores events from a socket this client has already replaced.
      ws.onopen = (event) => ws === this._ws && this._handleOpen(event);
      ws.onmessage = (event) => ws === this._ws && this._handleMessage(event);
      ws.onclose = (event) => ws === this._ws && this._handleClose(event);
      ws.onerror = () => this._log("socket error (a close event follows)");
      this._ws = ws;
    }

    _handleOpen(event) {
      const isReconnection = this._everOpened;
      this._everOpened = true;
      this._setState("open");
      this._log(isReconnection ? "reconnected" : "open");
      // Only a connection that stays up a while resets the backoff; one that opens
      // and drops at once (a crashing server) keeps backing off.
      this._stableTimer = setTimeout(() => {
        this._attempt = 0;
        this._stableTimer = null;
      }, this.options.stableAfter);
      const queued = this._queue;
      this._queue = [];
      for (const text of queued) this._ws.send(text);
      this.options.onOpen(event);
      // With recovery, the server's answer calls onReconnect (see _handleRecovery).
      if (isReconnection && !this._recovering) this.options.onReconnect({ recovered: false, groups: {} });
    }

    /** This client's URL, with the positions to recover from when recovery is on. */
    _connectUrl() {
      if (!this._recovering) return this.url;
      const url = new URL(this.url);
      const since = Object.fromEntries(this._positions);
      url.searchParams.set(SINCE_PARAMETER, JSON.stringify(since));
      return url.href;
    }

    /**
     * Keep position if it is the group's latest: a higher offset in the same epoch, or
     * another epoch (the server's history started again, and only its epoch counts now).
     */
    _track(position) {
      if (!isPosition(position)) {
        this._log("not a position; ignored", position);
        return;
      }
      const known = this._positions.get(position.group);
      if (known && known.epoch === position.epoch && known.offset >= position.offset) return;
      const { group, epoch, offset } = position;
      this._positions.set(group, { group, epoch, offset });
    }

    /**
     * The server's answer to the positions sent: every missed message came before it
     * (recovered), or the page must fetch its data again. A group it could not recover
     * comes with the group's current position, kept so the next connection starts there.
     */
    _handleRecovery(recovery) {
      const groups = isObject(recovery.groups) ? recovery.groups : {};
      for (const outcome of Object.values(groups)) {
        if (isObject(outcome) && outcome.position !== undefined) this._track(outcome.position);
      }
      const recovered = recovery.recovered === true;
      this._log(recovered ? "recovered" : "not recovered", groups);
      this.options.onReconnect({ recovered, groups });
    }

    _handleMessage(event) {
      let data = event.data;
      if (typeof data === "string") {
        try {
          data = JSON.parse(data);
        } catch {
          // Not JSON: the page gets the text as it came.
        }
      }
      if (this._recovering && isObject(data) && isObject(data[RECOVERY_KEY])) {
        this._handleRecovery(data[RECOVERY_KEY]);
        return;
      }
      this.options.onMessage(data, event);
      // Kept once the page has handled the message: a page that threw on it gets it again.
      if (isObject(data) && data.position !== undefined) this._track(data.position);
    }

    _handleClose(event) {
      this._ws = null;
      this._clearTimers();
      if (this._stopped || this.isFinalCode(event.code)) {
        this._log("closed for good, code", event.code);
        this._stopped = true;
        this._listenToPage(false);
        this._queue = [];
        this._setState("closed");
        this.options.onClose(event, { final: true });
        return;
      }
      const delay = this._nextDelay();
      this._log("closed, code", event.code, "- retrying in", delay, "ms");
      this._setState("connecting");
      this.options.onClose(event, { final: false, delay });
      if (!this._stopped) this._retryTimer = setTimeout(() => this._connect(), delay); // onClose may have called close()
    }

    /**
     * The page is being hidden: left by a link, Back or Forward, or closed.
     *
     * The socket is closed whether or not the page may enter the back/forward cache
     * (event.persisted): a page that is unloaded loses it anyway, and the flag is only
     * a hint, so no path leaves a hidden page holding a socket. Messages sent meanwhile
     * are queued as during any drop.
     */
    _suspend() {
      if (this._stopped || this._suspended) return;
      this._suspended = true;
      this._clearTimers(); // no retry and no backoff reset while hidden
      const ws = this._ws;
      this._ws = null; // its close event, whenever it comes, is ignored
      if (ws) ws.close(1000, "page hidden");
      this._log("page hidden; socket closed");
      this._setState("closed");
      this.options.onClose(null, { final: false, suspended: true });
    }

    /**
     * The page is shown again: connect at once. Only a page restored from the
     * back/forward cache (event.persisted) was suspended by a pagehide before; a
     * page's first pageshow finds nothing to resume.
     */
    _resume() {
      if (this._stopped || !this._suspended) return;
      this._suspended = false;
      this._log("page shown again");
      this._connect();
    }

    /** Follow the page's pagehide and pageshow events while this client may still connect. */
    _listenToPage(listen) {
      const page = typeof window !== "undefined" ? window : null;
      if (!page || typeof page.addEventListener !== "function" || this._listening === listen) return;
      this._listening = listen;
      const method = listen ? "addEventListener" : "removeEventListener";
      page[method]("pagehide", this._onPageHide);
      page[method]("pageshow", this._onPageShow);
    }

    /** Full jitter: a random wait between 0 and min(cap, base * 2^attempt). */
    _nextDelay() {
      const ceiling = Math.min(this.options.backoffCap, this.options.backoffBase * 2 ** this._attempt);
      this._attempt += 1;
      return Math.floor(Math.random() * ceiling);
    }

    _clearTimers() {
      clearTimeout(this._retryTimer);
      clearTimeout(this._stableTimer);
      this._retryTimer = this._stableTimer = null;
    }

    _setState(state) {
      this.state = state;
      if (typeof document === "undefined") return;
      const target = this.options.stateElement || document.body;
      if (target) target.dataset.socketState = state;
      for (const indicator of document.querySelectorAll("[data-socket-indicator]")) {
        indicator.dataset.socketState = state;
        indicator.textContent = this.options.labels[state];
      }
    }

    _log(...args) {
      if (this.options.debug) console.debug("[ChannelsSocket]", ...args);
    }
  }

  ChannelsSocket.DEFAULTS = DEFAULTS;
  ChannelsSocket.SINCE_PARAMETER = SINCE_PARAMETER;
  ChannelsSocket.RECOVERY_KEY = RECOVERY_KEY;
  root.ChannelsSocket = ChannelsSocket;
  if (typeof module !== "undefined" && module.exports) module.exports = { ChannelsSocket };
})(typeof globalThis !== "undefined" ? globalThis : this);
