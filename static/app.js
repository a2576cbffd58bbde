// QAForge's small helpers: toasts, <dialog> open/close, auto-submitting selects, "select all", formset rows.
// No framework; htmx does the requests.
(function () {
  "use strict";

  // Toasts. Every toast is server-rendered by one partial (templates/toast.html): Django messages come with the
  // page, HX-Trigger "toast" events carry its HTML, the live stream appends it to #toasts. Here they are only
  // adopted: a toast with a data-toast-key replaces the one showing under that key (coalescing), a job that
  // ended retires the "Generating…" toast, at most MAX_TOASTS stay (a corner, never the table), and all but
  // errors dismiss themselves (a hovered or focused toast waits).
  const TOAST_MS = { success: 5000, info: 5000, warning: 9000 };
  const MAX_TOASTS = 3;

  function dismissLater(toast) {
    const ms = TOAST_MS[toast.className.match(/toast-(\w+)/)?.[1] || "info"];
    if (!ms) return; // errors stay until closed
    const tick = () => {
      if (!toast.isConnected) return;
      if (toast.matches(":hover, :focus-within")) setTimeout(tick, 1000);
      else toast.remove();
    };
    setTimeout(tick, ms);
  }

  function adoptToast(toast) {
    if (toast.dataset.toastAdopted) return;
    toast.dataset.toastAdopted = "1";
    const region = toast.parentElement;
    const key = toast.dataset.toastKey;
    if (key && key.startsWith("jobs-")) region.querySelectorAll('[data-toast-key="queued"]').forEach((t) => t.remove());
    if (key) {
      region.querySelectorAll(`[data-toast-key="${key}"]`).forEach((t) => t !== toast && t.remove());
    }
    const toasts = region.querySelectorAll(".toast");
    for (let i = 0; i < toasts.length - MAX_TOASTS; i++) toasts[i].remove();
    dismissLater(toast);
  }

  // The handler of the HX-Trigger "toast" event: {html, level, message}.
  function showToast(detail) {
    const region = document.getElementById("toasts");
    if (!region || !detail || !detail.html) return;
    const holder = document.createElement("template");
    holder.innerHTML = detail.html.trim();
    const toast = holder.content.firstElementChild;
    region.appendChild(toast);
    if (window.htmx) htmx.process(toast); // its "Review" link opens a dialog
    adoptToast(toast);
  }
  window.qaforge = { showToast: showToast };

  document.addEventListener("toast", (event) => showToast(event.detail));

  // The live stream sends a badge again on (re)connect though the page may already show it: a swap that would
  // change nothing is skipped (same data-version), so a click or the focus on that badge is not lost to a copy.
  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    const current = event.target.dataset && event.target.dataset.version;
    const incoming = /\bdata-version="([^"]+)"/.exec((event.detail && event.detail.data) || "");
    if (current && incoming && incoming[1] === current) event.preventDefault();
  });

  function openDialog(selector) {
    const dialog = document.querySelector(selector);
    if (dialog && !dialog.open) dialog.showModal();
  }
  function closeDialog(dialog) {
    if (dialog && dialog.open) dialog.close();
  }
  window.qaforge.openDialog = openDialog;

  // A request still in flight from inside a closed dialog (the generate form closes its dialog before its request
  // leaves) must finish while its form is in the page: htmx fires the answer's HX-Trigger events (the toast) on
  // that form, and events on a detached element reach no listener.
  function removeWhenIdle(dialog) {
    if (!dialog.isConnected || dialog.open) return;
    if (dialog.querySelector(".htmx-request")) {
      // htmx drops an element's request class only once its answer has settled, which can be after the last
      // htmx:afterRequest (the estimate inside the generate form swaps itself): look again shortly.
      setTimeout(() => removeWhenIdle(dialog), 100);
      return;
    }
    dialog.remove();
  }

  // <dialog class="modal"> fragments (the generate and review dialogs) arrive appended to <body>: open each one,
  // and drop it from the page once it is closed.
  // Closing a modal dialog gives the focus back to the element that had it (the browser does this for
  // showModal()), and the open dialog keeps Tab inside it.
  function setUpModal(dialog) {
    if (dialog.dataset.modalReady) return;
    dialog.dataset.modalReady = "1";
    dialog.addEventListener("close", () => removeWhenIdle(dialog));
    if (!dialog.open) dialog.showModal();
  }

  // Shortcuts on pages that list them (data-shortcuts on <body>'s content): "/" search, "g" generate for the
  // selected rows, "?" this help. Never while typing in a field or with a modifier key held.
  document.addEventListener("keydown", (event) => {
    const help = document.getElementById("shortcuts-help");
    if (!help || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target;
    const typing = target.matches("input:not([type=checkbox]):not([type=radio])");
    if (typing || target.closest("textarea, select, [contenteditable], dialog[open]")) return;
    if (event.key === "/") {
      event.preventDefault();
      document.getElementById("story-search")?.focus();
    } else if (event.key === "g") {
      const button = document.querySelector("#generate-selected button[type=submit]");
      if (button) {
        event.preventDefault();
        button.click();
      }
    } else if (event.key === "?") {
      event.preventDefault();
      const dialog = help.content.firstElementChild.cloneNode(true);
      document.body.appendChild(dialog);
      setUpModal(dialog);
    }
  });

  document.addEventListener("htmx:load", (event) => {
    const elt = event.detail.elt;
    if (!(elt instanceof Element)) return;
    if (elt.matches("dialog.modal")) setUpModal(elt);
    elt.querySelectorAll("dialog.modal").forEach(setUpModal);
    // Toasts pushed by the live stream (job-finished) coalesce and fade like the others.
    if (elt.matches("#toasts .toast")) adoptToast(elt);
  });

  // HX-Trigger(-After-Swap): "close-dialog" closes the dialog the request came from.
  function onCloseDialog(event) {
    const own = event.target.closest && event.target.closest("dialog");
    if (own) closeDialog(own);
  }
  document.addEventListener("close-dialog", onCloseDialog);
  document.addEventListener("closeDialog", onCloseDialog);

  document.addEventListener("click", (event) => {
    const target = event.target;
    const opener = target.closest("[data-dialog-open]");
    if (opener) {
      event.preventDefault();
      openDialog(opener.getAttribute("data-dialog-open"));
      return;
    }
    const closer = target.closest("[data-dialog-close]");
    if (closer && closer.closest("dialog")) {
      // Outside a dialog (the full page without htmx) the control stays a plain link back.
      event.preventDefault();
      closeDialog(closer.closest("dialog"));
      return;
    }
    // A click on the backdrop closes a dialog, unless it holds edits worth keeping (data-keep-open).
    if (target.matches("dialog:not([data-keep-open])")) closeDialog(target);
    if (target.matches(".toast-close")) target.closest(".toast").remove();
    const adder = target.closest("[data-formset-add]");
    if (adder) addFormsetForm(adder.getAttribute("data-formset-add"));
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("select[data-autosubmit]")) target.form.requestSubmit();
    const selectAll = target.getAttribute("data-select-all");
    if (selectAll) {
      document.querySelectorAll(selectAll).forEach((box) => {
        box.checked = target.checked;
      });
    }
  });

  // A Django formset's blank form, copied from its <template> with the next index.
  function addFormsetForm(prefix) {
    const template = document.querySelector(`template[data-formset-template="${prefix}"]`);
    const container = document.querySelector(`[data-formset="${prefix}"]`);
    const total = document.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);
    if (!template || !container || !total) return;
    const index = parseInt(total.value, 10);
    container.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(index)));
    total.value = String(index + 1);
    const first = container.lastElementChild.querySelector("input, textarea");
    if (first) first.focus();
  }

  // A filter form marked data-url-controls always says what the table shows: after back/forward (htmx restores
  // an older page from its cache, whose <select>s come back as first rendered) and after a sort header's link,
  // each control takes its value from the URL. The field being typed in is left alone.
  function syncUrlControls() {
    const params = new URLSearchParams(location.search);
    document.querySelectorAll("form[data-url-controls]").forEach((form) => {
      for (const control of form.elements) {
        if (!control.name || control === document.activeElement) continue;
        const value = params.get(control.name) ?? "";
        if (control.tagName === "SELECT") {
          const known = [...control.options].some((option) => option.value === value);
          control.value = known ? value : control.options[0]?.value ?? "";
        } else if (control.type !== "submit") {
          control.value = value;
        }
      }
    });
  }
  ["htmx:historyRestore", "htmx:pushedIntoHistory", "htmx:replacedInHistory"].forEach((name) =>
    document.addEventListener(name, syncUrlControls),
  );
  window.addEventListener("popstate", () => setTimeout(syncUrlControls, 0));
  window.addEventListener("pageshow", syncUrlControls);

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#toasts .toast").forEach(adoptToast);
  });
})();
