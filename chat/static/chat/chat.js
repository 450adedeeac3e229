// The chat room page: show what is said and who is here, send what you type.
//
// Everything people type reaches the page as data and is shown with
// textContent: a message of "<img src=x onerror=...>" is shown as text.
(function () {
  "use strict";
  const list = document.getElementById("messages");
  const presence = document.getElementById("presence");
  const errorBox = document.getElementById("chat-error");
  const form = document.getElementById("say");
  const input = document.getElementById("say-text");

  function line(className, author, text, id) {
    const item = document.createElement("li");
    item.className = className;
    if (id !== undefined) item.dataset.messageId = String(id);
    if (author) {
      const who = document.createElement("b");
      who.className = "author";
      who.textContent = author;
      item.append(who, " ");
    }
    const what = document.createElement("span");
    what.className = "text";
    what.textContent = text;
    item.append(what);
    list.append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function showMessage(message) {
    if (list.querySelector(`[data-message-id="${message.id}"]`)) return;
    const item = line("message", message.author, message.text, message.id);
    // In the order they were stored (ids grow), also when a catch-up brings missed ones.
    const later = Array.from(list.querySelectorAll("li[data-message-id]")).find(
      (other) => Number(other.dataset.messageId) > message.id,
    );
    if (later) list.insertBefore(item, later);
  }

  function showNames(names) {
    presence.replaceChildren(
      ...names.map((name) => {
        const item = document.createElement("li");
        item.textContent = name;
        return item;
      })
    );
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  // Only when the server could not replay everything this page missed (see
  // onReconnect below): the last messages, to fill in those missed while away.
  // Added to what the page shows, never replacing it: messages pushed while the
  // fetch is under way are newer than its answer and must stay.
  async function catchUp() {
    const response = await fetch(list.dataset.messagesUrl, { headers: { Accept: "application/json" } });
    const { messages } = await response.json();
    messages.forEach(showMessage);
  }

  // What the person said is sent only once the server has welcomed this socket
  // into the room. ChannelsSocket sends what it queued the moment the socket
  // opens, before the server has handled the connection and knows the room:
  // a message typed while offline would be dropped there.
  let welcomed = false;
  const unsent = [];

  function say(text) {
    if (welcomed) socket.send({ type: "message", text });
    else unsent.push(text);
  }

  function apply(data) {
    switch (data.type) {
      case "welcome":
        welcomed = true;
        unsent.splice(0).forEach(say);
        return showNames(data.names);
      case "message":
        return showMessage(data.message);
      case "join":
        line("notice", "", `${data.name} joined`);
        return showNames(data.names);
      case "leave":
        line("notice", "", `${data.name} left`);
        return showNames(data.names);
      case "error":
        return showError(data.error);
    }
  }

  // The position of the room's history the page was rendered at. Each
  // connection sends the latest position the socket has seen, the server
  // replays everything said after it, then says whether that was all.
  const rendered = JSON.parse(document.getElementById("chat-position").textContent);
  const socket = new ChannelsSocket(list.dataset.streamUrl, {
    positions: [rendered],
    onMessage: apply,
    onReconnect({ recovered }) {
      if (!recovered) catchUp();
    },
    onClose() {
      welcomed = false; // a new socket must be welcomed again
    },
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    say(input.value);
    input.value = "";
  });
})();
