// The time slider moves over snapshots; its tooltip says which training step a position is.
// The steps come with each reply of the Train tab (its DRAWN record) and are kept here.
window.dccFunctions = window.dccFunctions || {};
window.toylabSteps = [];

// The tooltip's text at a slider position: "step 3,700", never the position itself ("74" was
// shown at step 3,700): a position past the steps known yet reads "step …" until they come.
function toylabStepLabel(index, steps) {
  var s = steps && steps[index];
  return (typeof s === "number" && isFinite(s)) ? "step " + Number(s).toLocaleString("en-US") : "step …";
}
window.toylabStepLabel = toylabStepLabel;
window.dccFunctions.toylabStep = function (index) { return toylabStepLabel(index, window.toylabSteps); };

// The slider draws its tooltip when its own properties change - in the same reply as DRAWN, before
// this callback kept the new steps (a run followed to a new snapshot showed its position, 74,
// not its step). The class names the steps kept, so the slider draws again once they are here.
function toylabSliderClass(drawn) {
  var steps = (drawn && drawn.steps) || [];
  return "time-slider steps-" + steps.length + "-" + (steps.length ? steps[steps.length - 1] : 0);
}
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  toylab: {
    keepSteps: function (drawn) {
      window.toylabSteps = (drawn && drawn.steps) || [];
      return toylabSliderClass(drawn);
    }
  }
});
if (typeof module !== "undefined") { module.exports = { toylabStepLabel: toylabStepLabel, toylabSliderClass: toylabSliderClass }; }
