/* The review screen's keys. Every key clicks a visible element marked data-key="…", so what the keyboard does
   and what the buttons do cannot drift apart. The score field keeps the focus: digits type the score, letters
   are shortcuts (a score has no letters); the note and the search box take letters as text. */
(function () {
  "use strict";
  var form = document.getElementById("r4h-review-form");
  var overlay = document.getElementById("r4h-keys");
  var score = document.getElementById("id_score");
  var note = document.getElementById("id_note");
  var opened = Date.now();
  var submitting = false;
  var SHORTCUTS = { a: "a", r: "r", c: "c", n: "n", p: "p", u: "u", ArrowRight: "n", ArrowLeft: "p" };

  function press(key) {
    var element = document.querySelector('[data-key="' + key + '"]');
    if (!element || submitting) return;
    if (element.tagName === "BUTTON" && element.type === "submit") submitting = true;
    element.click();
  }

  function focusScore() {
    if (!score) return;
    score.focus();
    score.select();
  }

  function showHelp(show) {
    if (!overlay) return;
    overlay.hidden = !show;
    if (show) overlay.querySelector("[data-close]").focus();
    else focusScore();
  }

  function gradeChanged() {
    if (!form) return false;
    var inputs = form.querySelectorAll("[data-numeric]");
    for (var i = 0; i < inputs.length; i++) {
      var typed = inputs[i].value.trim().replace(",", ".");
      var initial = inputs[i].defaultValue.trim();
      // 8 and 8.0 are the same score; anything that is not a number counts as a change (the server says why).
      if (typed === initial) continue;
      if (isNaN(parseFloat(typed)) || parseFloat(typed) !== parseFloat(initial)) return true;
    }
    return false;
  }

  // Enter (or Ctrl+Enter in the note): a changed grade is a correction, an unchanged one an approval.
  function confirmKey() {
    return gradeChanged() ? "c" : "a";
  }

  if (form) {
    form.addEventListener("submit", function () {
      var seconds = form.elements.seconds_spent;
      if (seconds) seconds.value = ((Date.now() - opened) / 1000).toFixed(1);
      // Spanish reviewers write 7,5.
      var inputs = form.querySelectorAll("[data-numeric]");
      for (var i = 0; i < inputs.length; i++) inputs[i].value = inputs[i].value.replace(",", ".");
      submitting = true;
    });
  }
  if (overlay) {
    overlay.querySelector("[data-close]").addEventListener("click", function () { showHelp(false); });
  }
  var helpButton = document.querySelector('button[data-key="?"]');
  if (helpButton) helpButton.addEventListener("click", function () { showHelp(overlay.hidden); });

  document.addEventListener("keydown", function (event) {
    if (event.isComposing) return;
    var key = event.key;
    var target = event.target;
    if (overlay && !overlay.hidden) {
      if (key === "Escape" || key === "?") { event.preventDefault(); showHelp(false); }
      return;
    }
    var freeText = target.matches && target.matches("textarea, select, input:not([data-numeric]):not([type=hidden])");
    if (freeText) {
      if (key === "Escape") { event.preventDefault(); target.blur(); focusScore(); }
      else if (key === "Enter" && (event.ctrlKey || event.metaKey) && form && form.contains(target)) {
        event.preventDefault();
        press(confirmKey());
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var numeric = target.matches && target.matches("[data-numeric]");
    if (key === "Enter" && (numeric || target === document.body)) { event.preventDefault(); press(confirmKey()); return; }
    if (/^[0-9]$/.test(key)) {
      if (numeric || !score) return;
      event.preventDefault();
      score.focus();
      score.value = key;
      return;
    }
    if (numeric && (key === "ArrowLeft" || key === "ArrowRight")) return;
    if (key === "?") { event.preventDefault(); showHelp(true); return; }
    if (key === "t" && note) { event.preventDefault(); note.focus(); return; }
    var shortcut = SHORTCUTS[key.length === 1 ? key.toLowerCase() : key];
    if (shortcut) { event.preventDefault(); press(shortcut); }
  });

  var firstError = document.querySelector(".r4h-field.errors input, .r4h-field.errors textarea");
  if (firstError) { firstError.focus(); if (firstError.select) firstError.select(); }
  else focusScore();
})();
