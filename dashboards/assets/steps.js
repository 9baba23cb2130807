// The time slider moves over snapshots; its tooltip says which training step a position is.
// The steps come with each reply of the Train tab (its DRAWN record) and are kept here.
window.dccFunctions = window.dccFunctions || {};
window.toylabSteps = [];
window.dccFunctions.toylabStep = function (index) {
  var s = window.toylabSteps;
  return (s && s[index] !== undefined) ? "step " + Number(s[index]).toLocaleString("en-US") : String(index);
};
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  toylab: {
    keepSteps: function (drawn) {
      window.toylabSteps = (drawn && drawn.steps) || [];
      return "time-slider";
    }
  }
});
