// Closing or leaving the tab stops its training at once (the server also reaps
// sessions that stop polling, for tabs that die without saying goodbye). The session
// token travels in the request's body, never in a URL. Sent once, on whichever of
// beforeunload and pagehide comes first (a browser may fire only one of them).
(function () {
  var said = false;
  function goodbye() {
    var el = document.getElementById("session-id-text");
    if (said || !el || !el.textContent || !navigator.sendBeacon) { return; }
    said = navigator.sendBeacon("/toylab/close", new Blob([el.textContent], {type: "text/plain"}));
  }
  window.addEventListener("beforeunload", goodbye);
  window.addEventListener("pagehide", goodbye);
})();
