// Closing or leaving the tab stops its training at once (the server also reaps
// sessions that stop polling, for tabs that die without saying goodbye). The session
// token travels in the request's body, never in a URL.
window.addEventListener("pagehide", function () {
  var el = document.getElementById("session-id-text");
  if (el && el.textContent && navigator.sendBeacon) {
    navigator.sendBeacon("/toylab/close", new Blob([el.textContent], {type: "text/plain"}));
  }
});
