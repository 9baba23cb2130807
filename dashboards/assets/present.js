// Esc leaves the presentation view (as the "✕ Exit presentation" button does).
document.addEventListener("keydown", function (e) {
  if (e.key !== "Escape") { return; }
  var root = document.getElementById("lab-root"), button = document.getElementById("btn-present");
  if (root && button && root.classList.contains("presenting")) { button.click(); }
});
