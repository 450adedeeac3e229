// Pending images swap in their thumbnail as soon as a worker has made it.
(function () {
  "use strict";
  const gallery = document.getElementById("gallery");
  const large = gallery.classList.contains("detail");

  function show(image) {
    const item = gallery.querySelector(`[data-image-id="${image.id}"]`);
    if (!item) return; // an image uploaded elsewhere: shown on the next page load
    // A state never goes back to pending: an answer to catchUp's fetch, sent before the
    // thumbnails were made, may arrive after the notification that they are done.
    if (image.status === "pending" && item.dataset.status !== "pending") return;
    item.dataset.status = image.status;
    const src = large ? image.large : image.small;
    const holder = item.querySelector(".pending");
    if (src && holder) {
      const img = document.createElement("img");
      img.src = src;
      img.alt = image.title;
      holder.replaceWith(img);
    } else if (image.status === "failed" && holder) {
      holder.textContent = "failed";
      const reason = item.querySelector(".reason");
      if (reason) reason.textContent = image.reason;
    }
  }

  // After every (re)connection: ask for the state of every image still pending,
  // so a missed notification never leaves a page spinning.
  async function catchUp() {
    const pending = gallery.querySelectorAll('[data-status="pending"]');
    for (const item of pending) {
      const response = await fetch(item.dataset.stateUrl, { headers: { Accept: "application/json" } });
      show((await response.json()).image);
    }
  }

  new ChannelsSocket(gallery.dataset.streamUrl, {
    onMessage(data) {
      if (data.type === "joined") return catchUp();
      if (data.type === "image") return show(data.image);
    },
  });
})();
