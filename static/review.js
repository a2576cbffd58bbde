// The review dialog never loses work: Close/Escape with unsaved edits asks first, deleting a test case or a
// scenario can be undone until saved (the header counts what is kept), the coverage strip follows deletions, and a
// failed save focuses its first error. The form works without this file (checkboxes, submit, server-side checks).
(function () {
  "use strict";

  const FORM = "form[data-review]";

  function reviewForm(node) {
    return node && node.closest ? node.closest("dialog")?.querySelector(FORM) || node.closest(FORM) : null;
  }

  function isDirty(form) {
    return Boolean(form && form.dataset.dirty === "1");
  }

  function markDirty(form) {
    if (form) form.dataset.dirty = "1";
  }

  // --- Deleting with undo, counts and coverage ------------------------------------------------------------------

  function refresh(form) {
    let kept = 0;
    form.querySelectorAll("[data-case]").forEach((article) => {
      const box = article.querySelector('input[type="checkbox"][name$="-DELETE"]:not([name*="-sc-"])');
      const deleted = Boolean(box && box.checked);
      article.classList.toggle("deleted", deleted);
      article.querySelector(".deleted-bar").hidden = !deleted;
      article.querySelector(".case-body").hidden = deleted;
      if (!deleted) kept += 1;
      article.querySelectorAll("[data-scenario]").forEach((scenario) => {
        const own = scenario.querySelector('input[type="checkbox"][name$="-DELETE"]');
        scenario.classList.toggle("removed", Boolean(own && own.checked));
      });
    });
    form.querySelectorAll("[data-kept-count]").forEach((span) => {
      span.textContent = String(kept);
    });
    // Which criteria the kept scenarios still cite.
    const cited = {};
    form.querySelectorAll("[data-case]:not(.deleted) [data-scenario]:not(.removed)").forEach((scenario) => {
      (scenario.dataset.criteria || "").split(" ").filter(Boolean).forEach((n) => {
        cited[n] = (cited[n] || 0) + 1;
      });
    });
    let covered = 0;
    const items = form.querySelectorAll("[data-criterion]");
    items.forEach((item) => {
      if (item.classList.contains("queued")) return;
      const count = cited[item.dataset.criterion] || 0;
      if (count) covered += 1;
      item.classList.toggle("uncovered", count === 0);
      const status = item.querySelector("[data-criterion-status]");
      if (status) status.textContent = count ? `${count} scenario${count === 1 ? "" : "s"}` : "not covered";
    });
    form.querySelectorAll("[data-covered-count]").forEach((span) => {
      span.textContent = String(covered);
    });
  }

  document.addEventListener("change", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (!form) return;
    markDirty(form);
    if (event.target.matches('input[type="checkbox"][name$="-DELETE"]')) {
      refresh(form);
      const article = event.target.closest("[data-case]");
      if (article && article.classList.contains("deleted")) article.querySelector("[data-undo-delete]").focus();
    }
  });
  document.addEventListener("input", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (form) markDirty(form);
  });
  document.addEventListener("click", (event) => {
    const undo = event.target.closest && event.target.closest("[data-undo-delete]");
    if (!undo) return;
    const article = undo.closest("[data-case]");
    const box = article.querySelector('input[type="checkbox"][name$="-DELETE"]:not([name*="-sc-"])');
    box.checked = false;
    refresh(undo.closest(FORM));
    box.focus();
  });

  // --- Closing with unsaved edits asks first ---------------------------------------------------------------------

  function askBeforeClosing(dialog) {
    const form = dialog.querySelector(FORM);
    let bar = form.querySelector(".unsaved-confirm");
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "unsaved-confirm";
      bar.setAttribute("role", "alertdialog");
      bar.setAttribute("aria-label", "Unsaved edits");
      bar.innerHTML =
        "<p><strong>You have unsaved edits in this review.</strong> Close it and lose them?</p>" +
        '<button type="button" data-keep-editing>Keep editing</button> ' +
        '<button type="button" class="secondary" data-close-anyway>Close without saving</button>';
      form.prepend(bar);
    }
    bar.hidden = false;
    bar.querySelector("[data-keep-editing]").focus();
  }

  document.addEventListener(
    "click",
    (event) => {
      const target = event.target;
      if (!target.closest) return;
      const dialog = target.closest("dialog");
      if (!dialog || !dialog.querySelector(FORM)) return;
      if (target.closest("[data-keep-editing]")) {
        target.closest(".unsaved-confirm").hidden = true;
        return;
      }
      if (target.closest("[data-close-anyway]")) {
        dialog.querySelector(FORM).dataset.dirty = "";
        dialog.close();
        return;
      }
      if (target.closest("[data-dialog-close]") && isDirty(dialog.querySelector(FORM))) {
        // Before app.js closes the dialog (it listens on the bubbling phase).
        event.preventDefault();
        event.stopPropagation();
        askBeforeClosing(dialog);
      }
    },
    true,
  );

  function guardEscape(dialog) {
    if (dialog.dataset.reviewGuard) return;
    dialog.dataset.reviewGuard = "1";
    dialog.addEventListener("cancel", (event) => {
      if (isDirty(dialog.querySelector(FORM))) {
        event.preventDefault();
        askBeforeClosing(dialog);
      }
    });
  }

  // Leaving the page (reload, a link) with a dialog full of edits asks too.
  window.addEventListener("beforeunload", (event) => {
    const open = [...document.querySelectorAll("dialog[open] " + FORM)].some(isDirty);
    if (open) event.preventDefault();
  });

  // --- After a swap: keep the state, focus the first error -------------------------------------------------------

  function focusTarget(id) {
    const target = document.getElementById(id);
    if (!target) return;
    const details = target.closest("details");
    if (details) details.open = true;
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }

  function setUp(form) {
    const dialog = form.closest("dialog");
    if (dialog) guardEscape(dialog);
    if (form.hasAttribute("data-unsaved")) markDirty(form); // a re-rendered form still holds unsaved edits
    refresh(form);
    const first = form.querySelector('[aria-invalid="true"]');
    if (form.hasAttribute("data-has-errors") && first) {
      focusTarget(first.id);
    } else if (form.querySelector("#review-confirm")) {
      form.querySelector("#review-confirm button").focus();
    }
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-focus]");
    if (!link) return;
    event.preventDefault();
    focusTarget(link.dataset.focus);
  });

  // Toasts raised while the review dialog is open are moved into it: a modal dialog sits in the top layer, above
  // #toasts. (Only the review: the generate dialog closes before its answer arrives.)
  function liftToasts() {
    const dialog = [...document.querySelectorAll("dialog.modal[open]")].filter((d) => d.querySelector(FORM)).pop();
    const region = document.getElementById("toasts");
    if (!dialog || !region) return;
    let local = dialog.querySelector(".dialog-toasts");
    if (!local) {
      local = document.createElement("div");
      local.className = "dialog-toasts";
      local.setAttribute("aria-live", "assertive");
      dialog.appendChild(local);
    }
    region.querySelectorAll(".toast").forEach((toast) => local.appendChild(toast));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const region = document.getElementById("toasts");
    if (region) new MutationObserver(liftToasts).observe(region, { childList: true });
    document.querySelectorAll(FORM).forEach(setUp);
  });

  document.addEventListener("htmx:load", (event) => {
    const elt = event.detail.elt;
    if (!(elt instanceof Element)) return;
    if (elt.matches(FORM)) setUp(elt);
    elt.querySelectorAll(FORM).forEach(setUp);
  });
})();
