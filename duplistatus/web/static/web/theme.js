// Runs before the page paints (loaded without defer) so a dark theme never flashes light.
(function () {
  var theme = localStorage.getItem("duplistatus-theme");
  if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
})();
