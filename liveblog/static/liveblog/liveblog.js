// The reader's side of the live blog: apply each pushed change to the page.
//
// Posts arrive as plain data ({id, body, created, updated}) and their text is
// put in with textContent, never innerHTML: whatever a writer types is shown
// as text and cannot run as script.
(function () {
  "use strict";
  const list = document.getElementById("posts");
  const errorBox = document.getElementById("liveblog-error");

  function timeLabel(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  function render(post, fresh) {
    const article = document.createElement("article");
    article.className = fresh ? "card post fresh" : "card post";
    article.id = "post-" + post.id;
    article.dataset.postId = String(post.id);
    article.dataset.created = post.created;
    const time = document.createElement("time");
    time.dateTime = post.created;
    time.textContent = timeLabel(post.created);
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = post.body;
    article.append(time, body);
    return article;
  }

  // Newest first: a post goes before the first one older than it.
  function place(article) {
    const created = article.dataset.created;
    const next = Array.from(list.querySelectorAll("article.post")).find(
      (other) => other !== article && other.dataset.created < created
    );
    list.insertBefore(article, next || null);
    const empty = document.getElementById("no-posts");
    if (empty) empty.remove();
  }

  function upsert(post) {
    const old = document.getElementById("post-" + post.id);
    if (old) {
      old.replaceWith(render(post, true));
    } else {
      place(render(post, true));
    }
  }

  function remove(post) {
    const old = document.getElementById("post-" + post.id);
    if (old) old.remove();
  }

  // Only when the server could not replay everything this page missed (see
  // onReconnect below): fetch the whole list and make the page match it.
  // Changes pushed while the fetch is in flight are kept and applied after
  // it, so none is lost.
  let catchingUp = null;
  async function catchUp() {
    catchingUp = [];
    try {
      const response = await fetch(list.dataset.postsUrl, { headers: { Accept: "application/json" } });
      const { posts } = await response.json();
      list.querySelectorAll("article.post").forEach((article) => article.remove());
      posts.forEach((post) => list.append(render(post, false)));
    } finally {
      const pending = catchingUp;
      catchingUp = null;
      pending.forEach(apply);
    }
  }

  function apply(message) {
    if (catchingUp) return catchingUp.push(message);
    switch (message.type) {
      case "post.created":
      case "post.updated": return upsert(message.post);
      case "post.deleted": return remove(message.post);
      case "error":
        errorBox.textContent = message.error;
        errorBox.hidden = false;
    }
  }

  // The position of the blog's history the page was rendered at. Each
  // connection sends the latest position the socket has seen, the server
  // replays every message after it, then says whether that was all.
  const rendered = JSON.parse(document.getElementById("liveblog-position").textContent);
  new ChannelsSocket(list.dataset.streamUrl, {
    positions: [rendered],
    onMessage: apply,
    onReconnect({ recovered }) {
      if (!recovered) catchUp();
    },
  });
})();
