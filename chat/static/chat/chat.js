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
  }

  function showMessage(message) {
    if (!list.querySelector(`[data-message-id="${message.id}"]`)) {
      line("message", message.author, message.text, message.id);
    }
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

  // After every (re)connection: the last messages, as a fresh page load would show them.
  async function catchUp() {
    const response = await fetch(list.dataset.messagesUrl, { headers: { Accept: "application/json" } });
    const { messages } = await response.json();
    list.querySelectorAll("li.message, li[data-message-id]").forEach((item) => item.remove());
    messages.forEach(showMessage);
  }

  function apply(data) {
    switch (data.type) {
      case "welcome":
        showNames(data.names);
        return catchUp();
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

  const socket = new ChannelsSocket(list.dataset.streamUrl, { onMessage: apply });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    socket.send({ type: "message", text: input.value });
    input.value = "";
  });
})();
